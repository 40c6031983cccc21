// extauthz-check calls envoy.service.auth.v3.Authorization/Check once, as Envoy's ext_authz filter
// would, with the client generated from Envoy's official protos (go-control-plane), and prints one
// JSON object: the gRPC status of the call and, when the call returned a CheckResponse, its content.
//
//	extauthz-check -addr 127.0.0.1:50051 -header 'authorization=Bearer …' -path /api -method GET
//
// Exit 0 once the JSON was printed, whatever the check decided or the gRPC code was (a deadline or
// an unreachable server is a result too); 1 when nothing could be printed; 2 on bad usage.
package main

import (
	"encoding/json"
	"flag"
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"authjwt.test/interop/internal/cli"
)

type header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Append is the deprecated BoolValue (null when unset); AppendAction the enum that replaced it.
	Append       *bool  `json:"append"`
	AppendAction string `json:"appendAction"`
}

type okResponse struct {
	Headers                 []header          `json:"headers"`
	HeadersToRemove         []string          `json:"headersToRemove"`
	ResponseHeadersToAdd    []header          `json:"responseHeadersToAdd"`
	QueryParametersToSet    map[string]string `json:"queryParametersToSet,omitempty"`
	QueryParametersToRemove []string          `json:"queryParametersToRemove,omitempty"`
}

type deniedResponse struct {
	// HTTPStatus is the envoy.type.v3.HttpStatus code (0 when the server left it unset: Envoy then answers 403).
	HTTPStatus int      `json:"httpStatus"`
	Body       string   `json:"body"`
	Headers    []header `json:"headers"`
}

type checkResult struct {
	// Status is CheckResponse.status (google.rpc.Status): OK allows the request, anything else denies it.
	Status struct {
		Code    int32  `json:"code"`
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"status"`
	// Result says which http_response arm was set: ok, denied, error, or none.
	Result          string          `json:"result"`
	OK              *okResponse     `json:"ok,omitempty"`
	Denied          *deniedResponse `json:"denied,omitempty"`
	Error           *deniedResponse `json:"error,omitempty"`
	DynamicMetadata any             `json:"dynamicMetadata,omitempty"`
	// Raw is the whole CheckResponse in protojson.
	Raw any `json:"raw"`
}

type output struct {
	cli.Status
	Check *checkResult `json:"check,omitempty"`
}

func main() {
	var (
		addr     = flag.String("addr", "127.0.0.1:50051", "server address host:port")
		path     = flag.String("path", "/", "HTTP request path (with query, as Envoy sends it)")
		method   = flag.String("method", "GET", "HTTP request method")
		host     = flag.String("host", "app.test", "HTTP request host (:authority)")
		scheme   = flag.String("scheme", "https", "HTTP request scheme")
		protocol = flag.String("protocol", "HTTP/1.1", "HTTP request protocol")
		timeout  = flag.Duration("timeout", 10*time.Second, "deadline of the Check call")
		source   = flag.String("source", "127.0.0.1:40000", "downstream peer address host:port (attributes.source)")
		tlsf     cli.TLSFlags
		headers  cli.KV
		exts     cli.KV
		rpcMD    cli.KV
	)
	tlsf.RegisterFlags()
	flag.Var(&headers, "header", "HTTP request header key=value (repeatable; keys lower-cased, repeats joined with ',' as Envoy does)")
	flag.Var(&exts, "context", "context_extensions key=value (repeatable; Envoy's per-route ext_authz settings)")
	flag.Var(&rpcMD, "rpc-header", "gRPC metadata key=value on the Check call itself (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		cli.Fatal(2, "unexpected arguments %q", flag.Args())
	}

	conn := tlsf.Dial(*addr)
	defer conn.Close()

	reqHeaders := map[string]string{}
	for _, kv := range headers.Pairs {
		k := strings.ToLower(kv[0])
		if prev, ok := reqHeaders[k]; ok {
			reqHeaders[k] = prev + "," + kv[1]
		} else {
			reqHeaders[k] = kv[1]
		}
	}
	extensions := map[string]string{}
	for _, kv := range exts.Pairs {
		extensions[kv[0]] = kv[1]
	}
	srcHost, srcPort := splitHostPort(*source)
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: socketAddress(srcHost, srcPort)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.Now(),
			Http: &authv3.AttributeContext_HttpRequest{
				Id:       "extauthz-check",
				Method:   *method,
				Headers:  reqHeaders,
				Path:     *path,
				Host:     *host,
				Scheme:   *scheme,
				Protocol: *protocol,
			},
		},
		ContextExtensions: extensions,
	}}

	ctx, cancel := cli.CallContext(*timeout, rpcMD)
	defer cancel()
	res, err := authv3.NewAuthorizationClient(conn).Check(ctx, req)
	out := output{Status: cli.StatusOf(err)}
	if err == nil {
		out.Check = describe(res)
	}
	cli.Print(out)
}

func describe(res *authv3.CheckResponse) *checkResult {
	c := &checkResult{Result: "none"}
	c.Status.Code = res.GetStatus().GetCode()
	c.Status.Name = cli.CodeName(codeOf(c.Status.Code))
	c.Status.Message = res.GetStatus().GetMessage()
	switch r := res.GetHttpResponse().(type) {
	case *authv3.CheckResponse_OkResponse:
		c.Result = "ok"
		ok := &okResponse{
			Headers:                 headerList(r.OkResponse.GetHeaders()),
			HeadersToRemove:         nonNil(r.OkResponse.GetHeadersToRemove()),
			ResponseHeadersToAdd:    headerList(r.OkResponse.GetResponseHeadersToAdd()),
			QueryParametersToRemove: r.OkResponse.GetQueryParametersToRemove(),
		}
		for _, q := range r.OkResponse.GetQueryParametersToSet() {
			if ok.QueryParametersToSet == nil {
				ok.QueryParametersToSet = map[string]string{}
			}
			ok.QueryParametersToSet[q.GetKey()] = q.GetValue()
		}
		c.OK = ok
	case *authv3.CheckResponse_DeniedResponse:
		c.Result = "denied"
		c.Denied = denied(r.DeniedResponse)
	case *authv3.CheckResponse_ErrorResponse:
		c.Result = "error"
		c.Error = denied(r.ErrorResponse)
	}
	if md := res.GetDynamicMetadata(); md != nil {
		c.DynamicMetadata = md.AsMap()
	}
	c.Raw = protoJSON(res)
	return c
}

func denied(d *authv3.DeniedHttpResponse) *deniedResponse {
	return &deniedResponse{HTTPStatus: int(d.GetStatus().GetCode()), Body: d.GetBody(), Headers: headerList(d.GetHeaders())}
}

func headerList(opts []*corev3.HeaderValueOption) []header {
	out := []header{}
	for _, o := range opts {
		h := header{Key: o.GetHeader().GetKey(), Value: o.GetHeader().GetValue(), AppendAction: o.GetAppendAction().String()}
		if raw := o.GetHeader().GetRawValue(); len(raw) > 0 && h.Value == "" {
			h.Value = string(raw)
		}
		if o.GetAppend() != nil {
			v := o.GetAppend().GetValue()
			h.Append = &v
		}
		out = append(out, h)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func codeOf(c int32) codes.Code { return codes.Code(uint32(c)) }

func protoJSON(m proto.Message) any {
	b, err := protojson.Marshal(m)
	if err != nil {
		return map[string]string{"marshalError": err.Error()}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return map[string]string{"marshalError": err.Error()}
	}
	return v
}

func splitHostPort(addr string) (string, uint32) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		cli.Fatal(2, "-source: %v", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		cli.Fatal(2, "-source port: %v", err)
	}
	return host, uint32(p)
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
