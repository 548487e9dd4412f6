package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImage writes the image of the module users deploy and reads it back from disk the
// way Istio's fetcher does (pkg/wasm/imagefetcher.go, extractOCIStandardImage): the
// last layer must be application/vnd.oci.image.layer.v1.tar+gzip and hold plugin.wasm,
// here byte for byte the module.
func TestImage(t *testing.T) {
	module, err := os.ReadFile("../../build/meshmirror.wasm")
	if err != nil {
		t.Fatalf("the compiled module is needed (make build): %v", err)
	}
	dir := t.TempDir()
	digest, err := writeLayout(dir, module)
	if err != nil {
		t.Fatal(err)
	}

	var index v1.IndexManifest
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(index.Manifests))
	}
	if got := index.Manifests[0]; got.Digest != digest || got.MediaType != types.OCIManifestSchema1 {
		t.Errorf("index.json points to %s %s, want %s %s", got.MediaType, got.Digest, types.OCIManifestSchema1, digest)
	}

	var manifest v1.Manifest
	readJSON(t, blob(t, dir, digest), &manifest)
	if manifest.MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %q, want %q", manifest.MediaType, types.OCIManifestSchema1)
	}
	if manifest.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type %q, want %q", manifest.Config.MediaType, types.OCIConfigJSON)
	}
	if got := manifest.Annotations[variantAnnotation]; got != "compat" {
		t.Errorf("annotation %s = %q, want compat (spec-compat.md)", variantAnnotation, got)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers, want 1 (the compat variant has exactly one)", len(manifest.Layers))
	}
	layer := manifest.Layers[0]
	if layer.MediaType != types.OCILayer {
		t.Errorf("layer media type %q, want %q", layer.MediaType, types.OCILayer)
	}

	got, diffID := moduleInLayer(t, blob(t, dir, layer.Digest))
	if !bytes.Equal(got, module) {
		t.Errorf("%s in the layer (%d bytes) differs from build/meshmirror.wasm (%d bytes)", moduleFile, len(got), len(module))
	}
	var config v1.ConfigFile
	readJSON(t, blob(t, dir, manifest.Config.Digest), &config)
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != diffID {
		t.Errorf("config diff_ids %v, want [%s]", config.RootFS.DiffIDs, diffID)
	}
	if config.OS == "" || config.Architecture == "" {
		t.Errorf("config needs os and architecture (OCI image spec), got %q/%q", config.OS, config.Architecture)
	}

	// make push reads the layout back; it must find the same image.
	img, err := readLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != digest {
		t.Errorf("readLayout gives %s, want %s", d, digest)
	}
	// The same module gives the same image, so a WasmPlugin's sha256 stays valid.
	if again, err := writeLayout(t.TempDir(), module); err != nil || again != digest {
		t.Errorf("a second build gives %s (%v), want %s", again, err, digest)
	}
}

// TestPush pushes the layout to a registry served in the test, as make push does to a
// real one, and pulls it back.
func TestPush(t *testing.T) {
	dir := t.TempDir()
	digest, err := writeLayout(dir, []byte("\x00asm\x01\x00\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer server.Close()
	reference := strings.TrimPrefix(server.URL, "http://") + "/meshmirror/meshmirror:test"

	pushed, err := push(dir, reference)
	if err != nil {
		t.Fatal(err)
	}
	if pushed.DigestStr() != digest.String() {
		t.Errorf("pushed %s, want digest %s", pushed, digest)
	}
	ref, err := name.ParseReference(reference)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got != digest {
		t.Errorf("the registry serves %s for the tag, want %s", got, digest)
	}
	if _, err := push(t.TempDir(), reference); err == nil {
		t.Error("pushing an empty layout succeeded")
	}
}

// moduleInLayer returns plugin.wasm from a gzipped tar layer, and the digest of the tar.
func moduleInLayer(t *testing.T, path string) ([]byte, v1.Hash) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	h := sha256.New()
	tee := io.TeeReader(gz, h)
	tr := tar.NewReader(tee)
	var module []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("layer is not a tar: %v", err)
		}
		if hdr.Name != moduleFile {
			t.Errorf("unexpected file %q in the layer", hdr.Name)
			continue
		}
		if module, err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	if module == nil {
		t.Fatalf("no %s in the layer", moduleFile)
	}
	io.Copy(io.Discard, tee) // the tar's end-of-archive blocks count in its digest
	return module, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// blob returns the path of a blob of the layout and checks that its content has its digest.
func blob(t *testing.T, dir string, digest v1.Hash) string {
	t.Helper()
	path := filepath.Join(dir, "blobs", digest.Algorithm, digest.Hex)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest.Hex {
		t.Fatalf("blob %s does not match its digest", digest)
	}
	return path
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestReceiverImage: the receiver's image holds the binary at /meshmirror and runs it
// as `meshmirror reports` by a user that is not root, with the database on /data.
func TestReceiverImage(t *testing.T) {
	binary := []byte("\x7fELF a static meshmirror, as make reports-image builds it")
	img, err := receiverImage(binary, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	digest, err := writeImage(dir, img)
	if err != nil {
		t.Fatal(err)
	}
	back, err := readLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := back.Digest(); d != digest {
		t.Errorf("the layout holds %s, want %s", d, digest)
	}
	config, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := config.Config
	if config.OS != "linux" || config.Architecture != "arm64" || strings.Join(c.Entrypoint, " ") != "/meshmirror reports" ||
		c.User != receiverUser || c.WorkingDir != "/data" || !strings.Contains(strings.Join(c.Cmd, " "), "-db /data/") {
		t.Errorf("config %+v on %s/%s", c, config.OS, config.Architecture)
	}
	layers, err := back.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = data
		if h.Name == receiverFile && h.Mode&0o111 == 0 {
			t.Errorf("/%s is not executable: %o", receiverFile, h.Mode)
		}
	}
	if !bytes.Equal(files[receiverFile], binary) {
		t.Errorf("/%s in the layer is %q, want the binary", receiverFile, files[receiverFile])
	}
	if _, ok := files["data/"]; !ok {
		t.Error("no /data directory for the database's volume")
	}
	if again, _ := receiverImage(binary, "arm64"); again != nil {
		if d, _ := again.Digest(); d != digest {
			t.Errorf("a second build gives %s, want %s: the digest must depend on the binary alone", d, digest)
		}
	}
}
