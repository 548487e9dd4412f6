package main

import (
	"archive/tar"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// The receiver's image (manifests/reports/): the static meshmirror command alone, run
// as `meshmirror reports` by an unprivileged user, its database on the volume at /data.
const (
	receiverFile = "meshmirror"
	receiverUser = "65532:65532" // "nonroot", as distroless images name it
	receiverPort = "8089/tcp"
)

// receiverImage returns a container image for Linux on arch (Go's name: amd64, arm64)
// whose one layer holds binary, a meshmirror command built with CGO_ENABLED=0 (the
// image has no libc), at /meshmirror. Fixed times and owners make its digest depend
// on the binary alone.
func receiverImage(binary []byte, arch string) (v1.Image, error) {
	layer, err := tarLayer(
		// SQLite writes its journal beside the database, on the volume; /tmp is for
		// what it spills, mounted as an emptyDir on a read-only root.
		tarFile{&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 65532, Gid: 65532, Format: tar.FormatPAX}, nil},
		tarFile{&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, Format: tar.FormatPAX}, nil},
		tarFile{&tar.Header{Name: receiverFile, Typeflag: tar.TypeReg, Mode: 0o555, Size: int64(len(binary)), Format: tar.FormatPAX}, binary},
	)
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(ociImage(), &v1.ConfigFile{
		OS: "linux", Architecture: arch, RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint:   []string{"/" + receiverFile, "reports"},
			Cmd:          []string{"-listen", "0.0.0.0:8089", "-db", "/data/meshmirror-reports.db"},
			User:         receiverUser,
			WorkingDir:   "/data",
			ExposedPorts: map[string]struct{}{receiverPort: {}},
			Env:          []string{"TMPDIR=/tmp"},
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, layer)
}
