// Command image packs the meshmirror module into an OCI image that Istio's WasmPlugin
// pulls (`url: oci://...`), and pushes it; with -receiver, the container image of
// `meshmirror reports` instead (manifests/reports/). It needs no Docker engine.
//
//	go run ./tools/image -wasm build/meshmirror.wasm -layout build/image   # make image
//	go run ./tools/image -layout build/image -push ghcr.io/you/meshmirror:0.1.0   # make push
//	go run ./tools/image -receiver build/meshmirror-linux -layout build/reports-image   # make reports-image
//
// The image is the "compat" variant of the Wasm image specification, which every Istio
// release reads (pkg/wasm/imagefetcher.go): one gzipped tar layer with the standard OCI
// media type, holding the module as plugin.wasm. RATIONALE.md says why not the "oci"
// variant. The same module always gives the same image digest, which is what a
// WasmPlugin's `sha256` pins for an oci:// url.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// moduleFile is the name Istio looks for in the layer (spec-compat.md).
	moduleFile = "plugin.wasm"
	// variantAnnotation marks a compat image whose layer has the OCI media type (spec-compat.md).
	variantAnnotation = "module.wasm.image/variant"
)

func main() {
	log.SetFlags(0)
	wasm := flag.String("wasm", "", "module to pack into a new image written to -layout")
	dir := flag.String("layout", "build/image", "OCI image layout directory to write, or to read for -push")
	to := flag.String("push", "", "push the image in -layout to this reference, e.g. ghcr.io/you/meshmirror:0.1.0")
	receiver := flag.String("receiver", "", "a static Linux meshmirror binary to pack into the receiver's container image, written to -layout")
	arch := flag.String("arch", "amd64", "with -receiver: the binary's architecture, as GOARCH names it")
	flag.Parse()

	switch {
	case *receiver != "" && *wasm == "" && *to == "":
		binary, err := os.ReadFile(*receiver)
		if err != nil {
			log.Fatal(err)
		}
		img, err := receiverImage(binary, *arch)
		if err != nil {
			log.Fatalf("image: %v", err)
		}
		digest, err := writeImage(*dir, img)
		if err != nil {
			log.Fatalf("image: %v", err)
		}
		fmt.Printf("wrote %s: linux/%s, /%s reports (%d bytes)\nimage digest %s\n", *dir, *arch, receiverFile, len(binary), digest)
	case *wasm != "" && *to == "" && *receiver == "":
		module, err := os.ReadFile(*wasm)
		if err != nil {
			log.Fatal(err)
		}
		digest, err := writeLayout(*dir, module)
		if err != nil {
			log.Fatalf("image: %v", err)
		}
		fmt.Printf("wrote %s: one %s layer with %s (%d bytes)\nimage digest %s (a WasmPlugin pins it with sha256: %s)\n",
			*dir, types.OCILayer, moduleFile, len(module), digest, digest.Hex)
	case *wasm == "" && *to != "":
		pushed, err := push(*dir, *to)
		if err != nil {
			log.Fatalf("image: %v", err)
		}
		fmt.Printf("pushed %s\nWasmPlugin url: oci://%s\n", pushed, *to)
	default:
		log.Fatal("usage: image -wasm FILE [-layout DIR] | image -receiver FILE [-arch GOARCH] [-layout DIR] | image [-layout DIR] -push REFERENCE")
	}
}

// wasmImage returns the compat-variant image of module: an OCI manifest and config, and
// one gzipped tar layer whose only file is plugin.wasm. The tar entry has fixed times and
// owners, so the digest depends on the module alone.
func wasmImage(module []byte) (v1.Image, error) {
	layer, err := tarLayer(tarFile{&tar.Header{
		Name:     moduleFile,
		Typeflag: tar.TypeReg,
		Mode:     0o444,
		Size:     int64(len(module)),
		Format:   tar.FormatPAX,
	}, module})
	if err != nil {
		return nil, err
	}
	// The OCI config requires an os and architecture; these are Go's names for the target.
	img, err := mutate.ConfigFile(ociImage(), &v1.ConfigFile{OS: "wasip1", Architecture: "wasm", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return nil, err
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, map[string]string{variantAnnotation: "compat"}).(v1.Image), nil
}

// tarFile is one entry of a layer: its header and, for a regular file, its bytes.
type tarFile struct {
	header *tar.Header
	data   []byte
}

// tarLayer is a gzipped tar layer with the standard OCI media type holding files, in
// order. Their headers fix times and owners, so the digest depends on the files alone.
func tarLayer(files ...tarFile) (v1.Layer, error) {
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	for _, f := range files {
		if err := tw.WriteHeader(f.header); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(archive.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
}

// ociImage is an empty image with OCI media types: empty.Image has Docker's; Istio and
// container runtimes read either, the OCI ones are the standard.
func ociImage() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// writeLayout replaces dir with an OCI image layout holding the image of module, and
// returns the image's digest.
func writeLayout(dir string, module []byte) (v1.Hash, error) {
	img, err := wasmImage(module)
	if err != nil {
		return v1.Hash{}, err
	}
	return writeImage(dir, img)
}

// writeImage replaces dir with an OCI image layout holding img, and returns its digest.
func writeImage(dir string, img v1.Image) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := path.AppendImage(img); err != nil {
		return v1.Hash{}, err
	}
	return img.Digest()
}

// push pushes the image of the layout in dir to reference, with the credentials of
// docker login or a credential helper, and returns where it is by digest.
func push(dir, reference string) (name.Digest, error) {
	img, err := readLayout(dir)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w (run make image first)", err)
	}
	ref, err := name.ParseReference(reference)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(digest.String()), nil
}

// readLayout returns the one image of the layout in dir.
func readLayout(dir string) (v1.Image, error) {
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(manifest.Manifests) != 1 {
		return nil, errors.New(dir + ": want exactly one image in the layout")
	}
	return index.Image(manifest.Manifests[0].Digest)
}
