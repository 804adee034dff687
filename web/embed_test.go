package web

import (
	"testing"
	"testing/fstest"
)

func TestAssets(t *testing.T) {
	fsys, err := Assets()
	if err != nil {
		t.Fatalf("Assets: %v", err)
	}
	// The placeholder is always present, built or not.
	if _, err := fsys.Open("README.txt"); err != nil {
		t.Fatalf("dist/README.txt missing from the embedded files: %v", err)
	}
	t.Logf("UI built: %v", HasIndex(fsys))
}

func TestHasIndex(t *testing.T) {
	cases := []struct {
		name string
		fsys fstest.MapFS
		want bool
	}{
		{"placeholder only", fstest.MapFS{"README.txt": {Data: []byte("x")}}, false},
		{"built", fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}, "assets/app.js": {}}, true},
		{"index is a directory", fstest.MapFS{"index.html/x": {}}, false},
	}
	for _, c := range cases {
		if got := HasIndex(c.fsys); got != c.want {
			t.Errorf("%s: HasIndex = %v, want %v", c.name, got, c.want)
		}
	}
	if HasIndex(nil) {
		t.Error("HasIndex(nil) = true")
	}
}
