// oidc-verify is a long-running, discovery-based JWT verifier built on github.com/coreos/go-oidc/v3,
// the way a Go service verifies tokens: oidc.NewProvider reads the discovery document ONCE at start
// (so the algorithm list it allows is fixed from then on), then every token is checked by one
// verifier whose remote JWKS refreshes on unknown key ids.
//
// It reads JWTs from stdin, one per line, and prints one JSON line per token:
//
//	{"ok":true,"header":{"alg":"ES256","kid":"…","typ":"JWT"},"claims":{…}}
//	{"ok":false,"header":{…},"error":"oidc: …"}
//
// Blank lines are ignored. Once discovery has been read it writes {"ready":true,"algorithms":[…]}
// on stderr; a discovery failure prints {"ok":false,"error":"discovery: …"} on stdout and exits 1.
// Exits 0 at the end of stdin.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"authjwt.test/interop/internal/cli"
)

type result struct {
	OK     bool           `json:"ok"`
	Header map[string]any `json:"header,omitempty"`
	Claims map[string]any `json:"claims,omitempty"`
	Error  string         `json:"error,omitempty"`
}

func main() {
	var (
		issuer   = flag.String("issuer", "", "issuer URL; discovery is read from <issuer>/.well-known/openid-configuration")
		audience = flag.String("audience", "", "required audience (go-oidc ClientID); empty skips the audience check")
		timeout  = flag.Duration("timeout", 10*time.Second, "timeout of discovery and of each verification")
	)
	flag.Parse()
	if *issuer == "" || flag.NArg() > 0 {
		cli.Fatal(2, "usage: oidc-verify -issuer URL [-audience AUD] < tokens")
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	provider, err := oidc.NewProvider(ctx, *issuer)
	cancel()
	if err != nil {
		cli.Print(result{Error: "discovery: " + err.Error()})
		os.Exit(1)
	}
	var disc struct {
		Algorithms []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = provider.Claims(&disc)
	ready, _ := json.Marshal(map[string]any{"ready": true, "algorithms": disc.Algorithms})
	fmt.Fprintln(os.Stderr, string(ready))

	verifier := provider.Verifier(&oidc.Config{ClientID: *audience, SkipClientIDCheck: *audience == ""})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1<<20)
	for in.Scan() {
		raw := strings.TrimSpace(in.Text())
		if raw == "" {
			continue
		}
		r := result{Header: header(raw)}
		vctx, vcancel := context.WithTimeout(context.Background(), *timeout)
		tok, err := verifier.Verify(vctx, raw)
		vcancel()
		if err != nil {
			r.Error = err.Error()
		} else if err := tok.Claims(&r.Claims); err != nil {
			r.Error = "claims: " + err.Error()
		} else {
			r.OK = true
		}
		cli.Print(r)
	}
	if err := in.Err(); err != nil {
		cli.Fatal(1, "reading stdin: %v", err)
	}
}

// header decodes the JOSE header without trusting it (for the report only).
func header(raw string) map[string]any {
	part, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil
	}
	var h map[string]any
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return h
}
