package handlers

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rolegate/rolegate"
)

// The admin console: a page of plain HTML, CSS and JavaScript modules
// (handlers/console/, embedded in the binary) that manages entities, roles
// and users through the native API only, with the token the admin pastes.
// It is not part of the API: no token is needed to fetch its files (they
// hold no data), and every call the page makes is an API call with an
// Authorization header.

//go:embed console
var consoleFiles embed.FS

// consoleCSP lets the page load its own files and call its own origin, and
// nothing else: no inline script or style, no other origin, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleAssets are the console's files by name, read once: a request names
// one of them exactly or gets 404, so no path reaches the file system.
var consoleAssets = func() map[string]consoleAsset {
	out := map[string]consoleAsset{}
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the machine's mime.types
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "console/")] = consoleAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("handlers: the console's files do not read: " + err.Error())
	}
	return out
}()

// registerConsole serves the console at /console (the page) and its files
// under /console/.
func registerConsole(r *gin.Engine) {
	r.GET("/console", serveConsole)
	r.GET("/console/*asset", serveConsole)
}

func serveConsole(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("asset"), "/")
	if name == "" {
		name = "index.html"
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	a, ok := consoleAssets[name]
	if !ok {
		writeError(c, rolegate.Errorf(rolegate.KindNotFound, "route_not_found", "no such console file"))
		return
	}
	// Revalidated on every load (the binary may change under the same
	// name); an unchanged file costs a 304.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if match := c.GetHeader("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.contentType, a.body)
}
