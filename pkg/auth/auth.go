// Package auth guards the gRPC APIs of a production Barista deployment:
// every call carries a credential, every method needs a scope, personal
// data is visible only with the pii scope, and every caller is rate limited.
//
// A credential is sent as gRPC metadata "authorization: Bearer <token>".
// The token is either
//
//   - an API key: an opaque secret whose SHA-256 the credentials file lists
//     with a name, scopes and a rate limit (the file never holds the key
//     itself; `barista auth key` makes one), or
//   - a JWT signed by a key of a configured JWKS file (RS256, ES256, EdDSA,
//     ...) or with a shared HS256 secret, with the configured issuer and
//     audience, an expiry, and scopes in the OAuth 2 "scope" claim (space
//     separated) or a "scp" list.
//
// Scopes are "<resource>:read" and "<resource>:write" for the resources
// events, profiles, segments and metrics; "pii" to see identifier values,
// traits and event context unredacted; and "admin", which grants every
// scope. A method's scope follows from its service and name: Get, List,
// Lookup, Watch, Stream, Preview, Compare, Analyze and Check methods read,
// the others write. Health checks are open (Kubernetes probes carry no
// credential); reflection needs a valid credential and no scope.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/yaml"
)

// Scopes.
const (
	ScopeAdmin = "admin"
	ScopePII   = "pii"
)

// Resources are the resources of the scopes "<resource>:read|write".
var Resources = []string{"events", "profiles", "segments", "metrics"}

// Config is the credentials file, YAML or JSON.
type Config struct {
	// Keys are the accepted API keys.
	Keys []KeyConfig `json:"keys"`
	// JWT, when set, accepts JWTs.
	JWT *JWTConfig `json:"jwt,omitempty"`
	// DefaultRate is the requests per second allowed to a caller whose key
	// sets none; default 1000. DefaultBurst likewise; default 2 × rate.
	DefaultRate  float64 `json:"default_rate,omitempty"`
	DefaultBurst int     `json:"default_burst,omitempty"`
}

// KeyConfig is one API key.
type KeyConfig struct {
	// Name identifies the caller in logs and limits.
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the key.
	SHA256 string `json:"sha256"`
	// Scopes granted to the key.
	Scopes []string `json:"scopes"`
	// Rate and Burst limit the key's requests per second; 0 for the
	// defaults.
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// JWTConfig says which JWTs are accepted.
type JWTConfig struct {
	// Issuer and Audience the tokens must carry.
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// JWKSFile is a JSON Web Key Set whose keys verify signatures; keys
	// without "alg" have it inferred from the key type.
	JWKSFile string `json:"jwks_file,omitempty"`
	// HS256SecretEnv names an environment variable holding a shared HS256
	// secret, for deployments without a key set.
	HS256SecretEnv string `json:"hs256_secret_env,omitempty"`
	// Rate and Burst limit each subject; 0 for the defaults.
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// Principal is an authenticated caller.
type Principal struct {
	// Name is the key's name, or "jwt:<subject>".
	Name   string
	scopes []string
}

// Has reports whether the principal holds scope (admin holds all).
func (p Principal) Has(scope string) bool {
	return slices.Contains(p.scopes, scope) || slices.Contains(p.scopes, ScopeAdmin)
}

type key struct {
	name    string
	hash    [sha256.Size]byte
	scopes  []string
	limiter *rate.Limiter
}

// Authenticator checks credentials, scopes and limits.
type Authenticator struct {
	keys       []key
	jwtOpts    []jwt.ParseOption
	jwtRate    rate.Limit
	jwtBurst   int
	mu         sync.Mutex
	subjects   map[string]*rate.Limiter
	now        func() time.Time
	hasJWT     bool
	maxTracked int
}

// Load reads a credentials file.
func Load(path string) (*Authenticator, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials file: %w", err)
	}
	var cfg Config
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	a, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return a, nil
}

// New builds an Authenticator from cfg, validating it whole.
func New(cfg Config) (*Authenticator, error) {
	defRate := cfg.DefaultRate
	if defRate == 0 {
		defRate = 1000
	}
	defBurst := cfg.DefaultBurst
	if defBurst == 0 {
		defBurst = int(2 * defRate)
	}
	limits := func(r float64, b int) (rate.Limit, int) {
		switch {
		case r == 0 && b == 0:
			return rate.Limit(defRate), defBurst
		case r == 0:
			r = defRate
		case b == 0:
			b = max(int(2*r), 1)
		}
		return rate.Limit(r), b
	}
	a := &Authenticator{subjects: map[string]*rate.Limiter{}, now: time.Now, maxTracked: 100_000}
	var errs []error
	names := map[string]bool{}
	for i, k := range cfg.Keys {
		where := fmt.Sprintf("keys[%d]", i)
		if k.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else if names[k.Name] {
			errs = append(errs, fmt.Errorf("%s: name %q is used twice", where, k.Name))
		}
		names[k.Name] = true
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s: sha256 must be 64 hex digits (the SHA-256 of the key, as `barista auth key` prints it)", where))
		}
		if err := checkScopes(k.Scopes); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		r, b := limits(k.Rate, k.Burst)
		kk := key{name: k.Name, scopes: k.Scopes, limiter: rate.NewLimiter(r, b)}
		copy(kk.hash[:], raw)
		a.keys = append(a.keys, kk)
	}
	if j := cfg.JWT; j != nil {
		if j.Issuer == "" || j.Audience == "" {
			errs = append(errs, errors.New("jwt: issuer and audience are required"))
		}
		opts := []jwt.ParseOption{
			jwt.WithValidate(true), jwt.WithIssuer(j.Issuer), jwt.WithAudience(j.Audience),
			jwt.WithRequiredClaim("exp"), jwt.WithAcceptableSkew(30 * time.Second),
		}
		switch {
		case j.JWKSFile != "" && j.HS256SecretEnv != "":
			errs = append(errs, errors.New("jwt: set jwks_file or hs256_secret_env, not both"))
		case j.JWKSFile != "":
			set, err := jwk.ReadFile(j.JWKSFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("jwt: jwks_file: %w", err))
			} else {
				opts = append(opts, jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)))
			}
		case j.HS256SecretEnv != "":
			secret := os.Getenv(j.HS256SecretEnv)
			if len(secret) < 32 {
				errs = append(errs, fmt.Errorf("jwt: environment variable %s must hold a secret of at least 32 bytes", j.HS256SecretEnv))
			}
			opts = append(opts, jwt.WithKey(jwa.HS256(), []byte(secret)))
		default:
			errs = append(errs, errors.New("jwt: set jwks_file or hs256_secret_env"))
		}
		a.jwtOpts = opts
		a.jwtRate, a.jwtBurst = limits(j.Rate, j.Burst)
		a.hasJWT = true
	}
	if len(cfg.Keys) == 0 && cfg.JWT == nil {
		errs = append(errs, errors.New("no keys and no jwt: nobody could call the API"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a, nil
}

func checkScopes(scopes []string) error {
	if len(scopes) == 0 {
		return errors.New("scopes: at least one is required")
	}
	for _, s := range scopes {
		if !validScope(s) {
			return fmt.Errorf("scopes: unknown scope %q (want admin, pii, or <resource>:read|write with resource one of %s)", s, strings.Join(Resources, ", "))
		}
	}
	return nil
}

func validScope(s string) bool {
	if s == ScopeAdmin || s == ScopePII {
		return true
	}
	res, access, ok := strings.Cut(s, ":")
	return ok && slices.Contains(Resources, res) && (access == "read" || access == "write")
}

// HashKey returns the hex SHA-256 the credentials file lists for key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Authenticate returns the principal of a bearer token, or an
// Unauthenticated status that says what is wrong.
func (a *Authenticator) Authenticate(token string) (Principal, *rate.Limiter, error) {
	if token == "" {
		return Principal{}, nil, status.Error(codes.Unauthenticated, `missing credentials: send "authorization: Bearer <API key or JWT>"`)
	}
	if strings.Count(token, ".") == 2 && a.hasJWT {
		return a.authenticateJWT(token)
	}
	sum := sha256.Sum256([]byte(token))
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			return Principal{Name: k.name, scopes: k.scopes}, k.limiter, nil
		}
	}
	return Principal{}, nil, status.Error(codes.Unauthenticated, "the API key is not valid")
}

func (a *Authenticator) authenticateJWT(token string) (Principal, *rate.Limiter, error) {
	tok, err := jwt.ParseString(token, a.jwtOpts...)
	if err != nil {
		return Principal{}, nil, status.Errorf(codes.Unauthenticated, "the JWT is not valid: %v", err)
	}
	sub, _ := tok.Subject()
	if sub == "" {
		return Principal{}, nil, status.Error(codes.Unauthenticated, `the JWT is not valid: it has no "sub" claim`)
	}
	var scopes []string
	var scope string
	if err := tok.Get("scope", &scope); err == nil {
		scopes = strings.Fields(scope)
	}
	var scp []any
	if err := tok.Get("scp", &scp); err == nil {
		for _, s := range scp {
			if str, ok := s.(string); ok {
				scopes = append(scopes, str)
			}
		}
	}
	name := "jwt:" + sub
	return Principal{Name: name, scopes: scopes}, a.subjectLimiter(name), nil
}

// subjectLimiter returns the limiter of a JWT subject. The table is bounded:
// when full it starts over, which can only let callers burst once more.
func (a *Authenticator) subjectLimiter(name string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.subjects[name]
	if !ok {
		if len(a.subjects) >= a.maxTracked {
			clear(a.subjects)
		}
		l = rate.NewLimiter(a.jwtRate, a.jwtBurst)
		a.subjects[name] = l
	}
	return l
}

// Authorize authenticates the call's credentials and checks the scope
// fullMethod needs and the caller's rate limit. It returns the principal,
// whose zero value means an open method.
func (a *Authenticator) Authorize(ctx context.Context, fullMethod string) (Principal, error) {
	need, open := RequiredScope(fullMethod)
	if open {
		return Principal{}, nil
	}
	p, limiter, err := a.Authenticate(bearer(ctx))
	if err != nil {
		return Principal{}, err
	}
	if need != "" && !p.Has(need) {
		return Principal{}, status.Errorf(codes.PermissionDenied, "%s needs scope %q, which %s does not have", fullMethod, need, p.Name)
	}
	if limiter != nil && !limiter.AllowN(a.now(), 1) {
		return Principal{}, status.Errorf(codes.ResourceExhausted, "rate limit of %s exceeded (%.0f requests/s, burst %d): retry later", p.Name, float64(limiter.Limit()), limiter.Burst())
	}
	return p, nil
}

// CheckWriteKey authorizes a Segment HTTP API write key: an API key with
// the events:write scope. The error is a message for the HTTP answer.
func (a *Authenticator) CheckWriteKey(writeKey string) error {
	p, limiter, err := a.Authenticate(writeKey)
	if err != nil {
		return errors.New(status.Convert(err).Message())
	}
	if !p.Has("events:write") {
		return fmt.Errorf("the write key %s lacks scope \"events:write\"", p.Name)
	}
	if limiter != nil && !limiter.AllowN(a.now(), 1) {
		return fmt.Errorf("rate limit of %s exceeded: retry later", p.Name)
	}
	return nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if scheme, token, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(token)
		}
	}
	return ""
}

// RequiredScope returns the scope fullMethod ("/package.Service/Method")
// needs; open is true for the methods anyone may call (health checks). An
// empty scope with open false means any valid credential (reflection).
// Methods of unknown services need admin.
func RequiredScope(fullMethod string) (scope string, open bool) {
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	switch {
	case service == "grpc.health.v1.Health":
		return "", true
	case strings.HasPrefix(service, "grpc.reflection."):
		return "", false
	}
	var resource string
	switch {
	case strings.HasPrefix(service, "barista.event."):
		resource = "events"
	case strings.HasPrefix(service, "barista.profile."):
		resource = "profiles"
	case strings.HasPrefix(service, "barista.segment."):
		resource = "segments"
	case strings.HasPrefix(service, "barista.metrics."):
		resource = "metrics"
	default:
		return ScopeAdmin, false
	}
	for _, verb := range []string{"Get", "List", "Lookup", "Watch", "Stream", "Preview", "Compare", "Analyze", "Check"} {
		if strings.HasPrefix(method, verb) {
			return resource + ":read", false
		}
	}
	return resource + ":write", false
}
