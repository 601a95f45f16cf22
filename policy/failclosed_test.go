package policy_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/rolegate/rolegate"
	"github.com/rolegate/rolegate/auth"
	"github.com/rolegate/rolegate/internal/testkit"
	"github.com/rolegate/rolegate/policy"
)

// Fail-closed by construction: a Service call whose context names no caller
// is refused (401) by the service itself, whatever the route or tool that
// forgot to authenticate, and writes nothing. Only the calls that are
// themselves the authentication (a client's secret, a token's client) and
// the readiness probe take no caller.
func TestServiceRefusesCallsWithoutCaller(t *testing.T) {
	svc, _ := testkit.Service(t, "acme")
	internal := auth.Internal(context.Background())
	if _, _, err := svc.CreateUser(internal, "acme", policy.UserInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	before, _ := svc.GetEntity(internal, "acme")
	noCaller := map[string]bool{"Ready": true, "VerifyClient": true}
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	v := reflect.ValueOf(svc)
	tested := 0
	for i := 0; i < v.NumMethod(); i++ {
		m, mt := v.Method(i), v.Type().Method(i)
		if m.Type().NumIn() == 0 || m.Type().In(0) != ctxType || noCaller[mt.Name] {
			continue
		}
		for _, ctx := range []context.Context{context.Background(), auth.WithActor(context.Background(), auth.Actor{})} {
			args := []reflect.Value{reflect.ValueOf(ctx)}
			for j := 1; j < m.Type().NumIn(); j++ {
				in := m.Type().In(j)
				a := reflect.New(in).Elem()
				switch in.Kind() {
				case reflect.String:
					a.SetString("acme") // a real entity, user, role id
				case reflect.Struct:
					if f := a.FieldByName("EntityID"); f.IsValid() {
						f.SetString("acme")
					}
					for _, name := range []string{"UserID", "ObjectType", "Action", "ID"} {
						if f := a.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
							f.SetString("acme")
						}
					}
				}
				args = append(args, a)
			}
			out := m.Call(args)
			last := out[len(out)-1]
			switch {
			case last.Type().Implements(errType):
				err, _ := last.Interface().(error)
				if !rolegate.IsKind(err, rolegate.KindUnauthenticated) {
					t.Errorf("%s without a caller: want 401, got %v", mt.Name, err)
				}
			case last.Kind() == reflect.Bool:
				if last.Bool() {
					t.Errorf("%s without a caller: true", mt.Name)
				}
			}
		}
		tested++
	}
	if tested < 20 {
		t.Fatalf("only %d Service methods tested", tested)
	}
	after, _ := svc.GetEntity(internal, "acme")
	if after.Revision != before.Revision {
		t.Fatalf("a call without a caller wrote: revision %d -> %d", before.Revision, after.Revision)
	}
}
