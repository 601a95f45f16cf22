package app

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version, Commit and Date are the build's stamp, set by cmd/rolegate from
// its -ldflags (scripts/release.sh, Dockerfile):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc123 -X main.date=2026-12-05T16:00:00Z"
//
// Left empty, they are taken from the build info: the module's version
// under `go install module@version`, the VCS stamp of a build in a checkout.
var (
	Version string
	Commit  string
	Date    string
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
	v := buildVersion{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
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
			case s.Key == "vcs.modified" && s.Value == "true" && Commit == "" && v.Commit != "":
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

// versionCmd is `rolegate version [-o json]` (also rolegate --version).
func (x *cli) versionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o json]",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return printVersion(x.stdout, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output: text or json")
	return cmd
}

// printVersion writes the version for people (output "text"), or as JSON.
func printVersion(w io.Writer, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(currentVersion())
	case "text":
	default:
		return fmt.Errorf("%w: rolegate version [-o json]", ErrUsage)
	}
	v := currentVersion()
	_, err := fmt.Fprintf(w, "rolegate %s\ncommit:     %s\nbuilt:      %s\ngo version: %s\nplatform:   %s\n", v.Version, v.Commit, v.Date, v.GoVersion, v.Platform)
	return err
}
