package grpcapi

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rolegatev1 "github.com/rolegate/rolegate/api/proto/rolegate/v1"
	"github.com/rolegate/rolegate/handlers"
)

// codec is the proto codec, but a BatchCheckRequest is decoded no further
// than its check past handlers.MaxBatch (which the call then refuses as
// invalid_batch): 1 MiB of empty checks would otherwise become half a million
// structs before the count is seen, as a JSON batch did (decodelimit.go).
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("grpcapi: cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("grpcapi: cannot unmarshal %T", v)
	}
	if _, batch := v.(*rolegatev1.BatchCheckRequest); batch {
		data = firstChecks(data, handlers.MaxBatch+1)
	}
	return proto.Unmarshal(data, m)
}

// firstChecks returns data cut after its n-th field, or whole when it holds
// fewer (or does not parse: proto.Unmarshal then says why).
func firstChecks(data []byte, n int) []byte {
	off := 0
	for i := 0; i < n && off < len(data); i++ {
		num, typ, l := protowire.ConsumeTag(data[off:])
		if l < 0 {
			return data
		}
		m := protowire.ConsumeFieldValue(num, typ, data[off+l:])
		if m < 0 {
			return data
		}
		off += l + m
	}
	return data[:off]
}
