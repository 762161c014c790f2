package auth

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
)

// Redacted replaces identifier values in answers to callers without the
// pii scope.
const Redacted = "[redacted]"

type principalKey struct{}

// FromContext returns the principal of an authorized call.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// UnaryInterceptor authorizes every call and redacts personal data from the
// answers of callers without the pii scope.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, err := a.Authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		resp, err := handler(context.WithValue(ctx, principalKey{}, p), req)
		if err == nil && p.Name != "" && !p.Has(ScopePII) {
			if m, ok := resp.(proto.Message); ok {
				Redact(m)
			}
		}
		return resp, err
	}
}

// StreamInterceptor is UnaryInterceptor for streams; every message sent is
// redacted for callers without the pii scope.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		p, err := a.Authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &stream{ServerStream: ss, p: p, ctx: context.WithValue(ss.Context(), principalKey{}, p)})
	}
}

type stream struct {
	grpc.ServerStream
	p   Principal
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

func (s *stream) SendMsg(m any) error {
	if s.p.Name != "" && !s.p.Has(ScopePII) {
		if pm, ok := m.(proto.Message); ok {
			// Redact a copy: a handler may send the same message to
			// several callers.
			c := proto.Clone(pm)
			Redact(c)
			m = c
		}
	}
	return s.ServerStream.SendMsg(m)
}

// piiStructFields are the Struct fields that hold personal data: traits
// (names, emails, addresses) and event context (IP, user agent, device).
var piiStructFields = map[protoreflect.Name]bool{"traits": true, "context": true}

// piiFields are other fields that hold personal data, by full name: the
// value of a trait in a profile's trait history.
var piiFields = map[protoreflect.FullName]bool{"barista.profile.v1.TraitChange.value": true}

// Redact removes personal data from m in place: the value of every
// barista.type.v1.Identifier becomes Redacted, every Struct field named
// traits or context is emptied, and trait values in trait histories are
// cleared. Event properties, profile ids, trait keys and aggregates stay.
func Redact(m proto.Message) {
	redact(m.ProtoReflect())
}

func redact(m protoreflect.Message) {
	if m.Descriptor().FullName() == "barista.type.v1.Identifier" {
		if f := m.Descriptor().Fields().ByName("value"); f != nil && m.Get(f).String() != "" {
			m.Set(f, protoreflect.ValueOfString(Redacted))
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case piiFields[fd.FullName()]:
			m.Clear(fd)
		case fd.Message() == nil:
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					redact(mv.Message())
					return true
				})
			}
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				redact(l.Get(i).Message())
			}
		case fd.Message().FullName() == "google.protobuf.Struct" && piiStructFields[fd.Name()]:
			m.Set(fd, protoreflect.ValueOfMessage((&structpb.Struct{}).ProtoReflect()))
		default:
			redact(v.Message())
		}
		return true
	})
}

// Token is per-RPC credentials sending a bearer token, for the connections
// between services and from the CLI. It does not require transport
// security: inside a cluster, TLS belongs to the mesh or the ingress.
type Token string

var _ credentials.PerRPCCredentials = Token("")

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t Token) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (Token) RequireTransportSecurity() bool { return false }
