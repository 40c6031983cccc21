// Package cli holds what the interop CLIs share: repeatable key=value flags, gRPC dialing, the
// gRPC status as JSON (with google.rpc.ErrorInfo details decoded), and one-object JSON output.
//
// Output contract of every CLI: exactly one JSON object per result on stdout; diagnostics on stderr.
// Exit 0 once a result was printed (whatever the gRPC code), 1 when none could be, 2 on bad usage.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	// Importing errdetails also registers ErrorInfo, so status.Details() can unpack it.
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// KV is a repeatable `-flag key=value` flag, in the order given.
type KV struct{ Pairs [][2]string }

func (kv *KV) String() string {
	parts := make([]string, 0, len(kv.Pairs))
	for _, p := range kv.Pairs {
		parts = append(parts, p[0]+"="+p[1])
	}
	return strings.Join(parts, ",")
}

func (kv *KV) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	kv.Pairs = append(kv.Pairs, [2]string{k, v})
	return nil
}

// TLSFlags selects the channel security: plaintext (the default, loopback tests), or TLS with the
// system roots or a given CA file.
type TLSFlags struct {
	Plaintext  bool
	CACert     string
	ServerName string
}

// RegisterFlags defines -plaintext, -cacert and -servername on the default flag set.
func (t *TLSFlags) RegisterFlags() {
	flag.BoolVar(&t.Plaintext, "plaintext", true, "no TLS (set -plaintext=false for TLS with the system roots)")
	flag.StringVar(&t.CACert, "cacert", "", "PEM CA file: use TLS trusting it")
	flag.StringVar(&t.ServerName, "servername", "", "TLS server name override")
}

// Dial opens a client connection to addr with the flags' channel security, or exits 2.
func (t TLSFlags) Dial(addr string) *grpc.ClientConn {
	opts, err := t.DialOptions()
	if err != nil {
		Fatal(2, "%v", err)
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		Fatal(2, "%v", err)
	}
	return conn
}

// CallContext is the context of one call: its deadline and the -rpc-header metadata.
func CallContext(timeout time.Duration, md KV) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	for _, kv := range md.Pairs {
		ctx = metadata.AppendToOutgoingContext(ctx, kv[0], kv[1])
	}
	return ctx, cancel
}

// DialOptions returns the transport credentials for the flags.
func (t TLSFlags) DialOptions() ([]grpc.DialOption, error) {
	if t.Plaintext && t.CACert == "" {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CACert != "" {
		pem, err := os.ReadFile(t.CACert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no certificate in " + t.CACert)
		}
		cfg.RootCAs = pool
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, nil
}

// ErrorInfo is google.rpc.ErrorInfo as JSON.
type ErrorInfo struct {
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

// Status is a gRPC status as the CLIs print it.
type Status struct {
	// Code is the numeric gRPC code; Status its canonical name (UNAUTHENTICATED, ...).
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	// ErrorInfo is the first google.rpc.ErrorInfo of grpc-status-details-bin, when the server sent one.
	ErrorInfo *ErrorInfo `json:"errorInfo,omitempty"`
	// Details lists the type URLs of every detail message in grpc-status-details-bin.
	Details []string `json:"details,omitempty"`
}

// StatusOf converts a call error (nil = OK) into a Status, decoding ErrorInfo from the details.
func StatusOf(err error) Status {
	st := status.Convert(err) // nil → OK
	out := Status{Code: int(st.Code()), Status: CodeName(st.Code()), Message: st.Message()}
	for _, a := range st.Proto().GetDetails() {
		out.Details = append(out.Details, a.GetTypeUrl())
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && out.ErrorInfo == nil {
			md := info.GetMetadata()
			if md == nil {
				md = map[string]string{}
			}
			out.ErrorInfo = &ErrorInfo{Reason: info.GetReason(), Domain: info.GetDomain(), Metadata: md}
		}
	}
	return out
}

// CodeName is the canonical name of a gRPC code (OK, INVALID_ARGUMENT, ...).
func CodeName(c codes.Code) string {
	if name, ok := rpccode.Code_name[int32(c)]; ok {
		return name
	}
	return fmt.Sprintf("CODE_%d", c)
}

// Print writes v as one JSON line on stdout.
func Print(v any) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		Fatal(1, "writing JSON: %v", err)
	}
}

// Fatal prints a diagnostic on stderr and exits with code.
func Fatal(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", progName(), fmt.Sprintf(format, args...))
	os.Exit(code)
}

func progName() string {
	name := os.Args[0]
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
