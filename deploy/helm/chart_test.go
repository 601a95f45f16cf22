// Package helm holds the Helm chart (rolegate/) and its test: the chart is
// rendered by a real helm (ROLEGATE_TEST_HELM, the binary; .ci/run builds it
// from the Go module proxy) and the manifests are read back and checked.
package helm

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// render runs helm template on the chart with the --set values given.
func render(t *testing.T, sets ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("ROLEGATE_TEST_HELM")
	if bin == "" {
		t.Skip("ROLEGATE_TEST_HELM is not set (.ci/run sets it to a helm it builds)")
	}
	args := []string{"template", "rg", "./rolegate"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return errOut.String(), err
	}
	return out.String(), nil
}

type object = map[string]any

// documents splits and parses the rendered manifests; each must be YAML.
func documents(t *testing.T, text string) map[string]object {
	t.Helper()
	out := map[string]object{}
	for _, doc := range strings.Split(text, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if o == nil {
			continue // a document of comments only
		}
		kind, _ := o["kind"].(string)
		if _, dup := out[kind]; dup {
			t.Fatalf("two %s", kind)
		}
		out[kind] = o
	}
	return out
}

// at walks a path of map keys and list indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

var required = []string{
	"databaseUrl=postgres://rolegate:pw@postgres:5432/rolegate?sslmode=require",
	"adminToken=chart-test-admin-token-0123456789abcdef",
	"keyEncryptionKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"redisUrl=redis://redis:6379/0",
}

func TestChartRenders(t *testing.T) {
	text, err := render(t, append(required, "image.tag=1.2.3", "corsOrigins[0]=https://app.example.com")...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, text)
	}
	docs := documents(t, text)
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "Secret"} {
		if docs[kind] == nil {
			t.Fatalf("no %s rendered:\n%s", kind, text)
		}
	}
	if len(docs) != 4 {
		t.Errorf("want 4 kinds, got %d", len(docs))
	}
	c := at(docs["Deployment"], "spec", "template", "spec", "containers", 0)
	if at(c, "livenessProbe", "httpGet", "path") != "/healthz" || at(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("probes: %v %v", at(c, "livenessProbe"), at(c, "readinessProbe"))
	}
	if at(c, "image") != "rolegate:1.2.3" {
		t.Errorf("image %v", at(c, "image"))
	}
	env := map[string]any{}
	for _, e := range at(c, "env").([]any) {
		env[at(e, "name").(string)] = e
	}
	for name, want := range map[string]string{"ROLEGATE_DATABASE_URL": "database-url", "ROLEGATE_REDIS_URL": "redis-url"} {
		if at(env[name], "valueFrom", "secretKeyRef", "key") != want || at(env[name], "valueFrom", "secretKeyRef", "name") != "rg-rolegate" {
			t.Errorf("%s not from the Secret: %v", name, env[name])
		}
	}
	if at(env["ROLEGATE_ADMIN_TOKEN_FILE"], "value") != "/run/secrets/rolegate/admin-token" || at(env["ROLEGATE_KEY_ENCRYPTION_KEY_FILE"], "value") != "/run/secrets/rolegate/key-encryption-key" {
		t.Errorf("token and key not read from the mounted Secret: %v %v", env["ROLEGATE_ADMIN_TOKEN_FILE"], env["ROLEGATE_KEY_ENCRYPTION_KEY_FILE"])
	}
	if at(env["ROLEGATE_CORS_ORIGINS"], "value") != "https://app.example.com" {
		t.Errorf("cors: %v", env["ROLEGATE_CORS_ORIGINS"])
	}
	if _, plain := env["ROLEGATE_ADMIN_TOKEN"]; plain || strings.Count(text, "chart-test-admin-token") != 1 {
		t.Errorf("the admin token is somewhere but in the Secret")
	}
	sd := at(docs["Secret"], "stringData").(map[string]any)
	for _, k := range []string{"admin-token", "key-encryption-key", "database-url", "redis-url"} {
		if sd[k] == nil || sd[k] == "" {
			t.Errorf("Secret has no %s", k)
		}
	}
	if at(docs["PodDisruptionBudget"], "spec", "maxUnavailable") != float64(1) ||
		at(docs["Service"], "spec", "ports", 0, "targetPort") != "http" {
		t.Errorf("pdb or service: %v %v", docs["PodDisruptionBudget"], docs["Service"])
	}
	if at(docs["Deployment"], "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Error("not run as non-root")
	}
}

// An existing Secret replaces the chart's; values that would start
// instances that cannot work together are refused by helm template.
func TestChartRefuses(t *testing.T) {
	text, err := render(t, "existingSecret=mine", "replicaCount=1")
	if err != nil {
		t.Fatalf("existingSecret: %v\n%s", err, text)
	}
	docs := documents(t, text)
	if docs["Secret"] != nil || at(docs["Deployment"], "spec", "template", "spec", "volumes", 0, "secret", "secretName") != "mine" {
		t.Errorf("existingSecret not used: %v", docs)
	}
	for name, tc := range map[string]struct {
		sets []string
		want string
	}{
		"no values":          {nil, "databaseUrl is required"},
		"short admin token":  {append(append([]string{}, required...), "adminToken=short"), "adminToken is required"},
		"no key":             {append(append([]string{}, required...), "keyEncryptionKey="), "keyEncryptionKey is required"},
		"replicas, no redis": {append(append([]string{}, required...), "redisUrl="), "redisUrl is required"},
	} {
		out, err := render(t, tc.sets...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(out, tc.want) {
			t.Errorf("%s: want a refusal with %q, got %v:\n%s", name, tc.want, err, out)
		}
	}
}
