// getjwt-go calls auth.v1alpha1.AuthAPI/GetJWT with a client GENERATED from proto/ by protoc,
// protoc-gen-go and protoc-gen-go-grpc at build time (package authjwt.test/interop/gen/authv1alpha1,
// written by generate.sh; never committed), and prints one JSON object:
//
//	{"code":0,"status":"OK","message":"","token":"…"}
//	{"code":16,"status":"UNAUTHENTICATED","message":"…","errorInfo":{"reason":"…","domain":"…","metadata":{…}},"details":["type.googleapis.com/google.rpc.ErrorInfo"]}
//
// The provider access token is read from -token-file ("-" = stdin), never from the command line,
// so it does not show in process listings.
package main

import (
	"bufio"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	authv1alpha1 "authjwt.test/interop/gen/authv1alpha1"
	"authjwt.test/interop/internal/cli"
)

type output struct {
	cli.Status
	Token string `json:"token,omitempty"`
}

func main() {
	var (
		addr      = flag.String("addr", "127.0.0.1:50051", "server address host:port")
		provider  = flag.String("provider", "", "Account.provider")
		typ       = flag.String("type", "", "Account.type (oauth or oidc)")
		accountID = flag.String("account-id", "", "Account.provider_account_id")
		tokenFile = flag.String("token-file", "", `file holding Account.access_token ("-" = stdin; surrounding whitespace trimmed); empty = no token`)
		noAccount = flag.Bool("no-account", false, "send a GetJWTRequest without an Account")
		timeout   = flag.Duration("timeout", 10*time.Second, "deadline of the call")
		tlsf      cli.TLSFlags
		rpcMD     cli.KV
	)
	tlsf.RegisterFlags()
	flag.Var(&rpcMD, "rpc-header", "gRPC metadata key=value (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		cli.Fatal(2, "unexpected arguments %q", flag.Args())
	}

	accessToken := ""
	if *tokenFile != "" {
		var r io.Reader = os.Stdin
		if *tokenFile != "-" {
			f, err := os.Open(*tokenFile)
			if err != nil {
				cli.Fatal(2, "-token-file: %v", err)
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(bufio.NewReader(r))
		if err != nil {
			cli.Fatal(2, "-token-file: %v", err)
		}
		accessToken = strings.TrimSpace(string(b))
	}

	conn := tlsf.Dial(*addr)
	defer conn.Close()

	req := &authv1alpha1.GetJWTRequest{}
	if !*noAccount {
		req.Account = &authv1alpha1.Account{
			Provider:          *provider,
			Type:              *typ,
			ProviderAccountId: *accountID,
			AccessToken:       accessToken,
		}
	}
	ctx, cancel := cli.CallContext(*timeout, rpcMD)
	defer cancel()
	res, err := authv1alpha1.NewAuthAPIClient(conn).GetJWT(ctx, req)
	out := output{Status: cli.StatusOf(err)}
	if err == nil {
		out.Token = res.GetToken()
	}
	cli.Print(out)
}
