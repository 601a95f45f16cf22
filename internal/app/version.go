package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time by the release recipe (scripts/release.sh):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc123 -X main.date=2026-12-05T16:00:00Z"
//
// Left empty, they are taken from the build info: the module's version
// under `go install module@version`, the VCS stamp of a build in a checkout.
var (
	version string
	commit  string
	date    string
)

// buildVersion is what `rolegate version` prints.
type buildVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// currentVersion merges the -ldflags values with the build info; what
// neither knows is "unknown" (version: "devel"), never empty.
func currentVersion() buildVersion {
	v := buildVersion{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && v.Commit == "":
				v.Commit = s.Value
			case s.Key == "vcs.time" && v.Date == "":
				v.Date = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && commit == "" && v.Commit != "":
				v.Commit += "-dirty"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}

// printVersion writes the version for people, or as JSON with -o json.
func printVersion(w io.Writer, args []string) error {
	switch {
	case len(args) == 0:
	case len(args) == 2 && (args[0] == "-o" || args[0] == "--output" || args[0] == "-output") && args[1] == "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(currentVersion())
	case len(args) == 2 && (args[0] == "-o" || args[0] == "--output" || args[0] == "-output") && args[1] == "text":
	default:
		return fmt.Errorf("%w: rolegate version [-o json]", errUsage)
	}
	v := currentVersion()
	_, err := fmt.Fprintf(w, "rolegate %s\ncommit:     %s\nbuilt:      %s\ngo version: %s\nplatform:   %s\n", v.Version, v.Commit, v.Date, v.GoVersion, v.Platform)
	return err
}
