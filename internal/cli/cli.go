// Package cli implements the barista command: a client for every Barista
// service and the single-process development server.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/barista-cdp/barista/pkg/grpcclient"
)

// DefaultAddr is the gRPC address of `barista dev`, used when --addr and
// BARISTA_ADDR are not set.
const DefaultAddr = "127.0.0.1:7070"

// app carries the global flags and the lazily opened connection.
type app struct {
	addr string
	// tokenFile holds the bearer token; BARISTA_TOKEN may hold it instead.
	tokenFile string
	output    string
	out       io.Writer
	errOut    io.Writer
	conn      *grpc.ClientConn
}

// Execute runs the barista command with args and returns the exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.conn != nil {
		a.conn.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", describe(err))
		return 1
	}
	return 0
}

// describe turns a gRPC status into "Code: message" and leaves other errors
// as they are.
func describe(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}

func (a *app) rootCommand() *cobra.Command {
	addr := os.Getenv("BARISTA_ADDR")
	if addr == "" {
		addr = DefaultAddr
	}
	root := &cobra.Command{
		Use:           "barista",
		Short:         "Behavioral customer segmentation: client and development server",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("-o %q: use table or json", a.output)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&a.addr, "addr", addr, "gRPC address of the Barista suite (env BARISTA_ADDR)")
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "table", "output format: table (for people) or json (protojson, for scripts)")
	root.PersistentFlags().StringVar(&a.tokenFile, "token-file", os.Getenv("BARISTA_TOKEN_FILE"), "file holding the API key or JWT to call a production suite with (env BARISTA_TOKEN_FILE; or the token itself in BARISTA_TOKEN)")
	root.AddCommand(a.devCommand(), a.eventCommand(), a.profileCommand(), a.segmentCommand(), a.metricsCommand(), a.clvCommand(), a.authCommand(), a.demoCommand())
	return root
}

// client returns the connection to --addr, opened once.
func (a *app) client() (*grpc.ClientConn, error) {
	if a.conn == nil {
		opts, err := a.credentials()
		if err != nil {
			return nil, err
		}
		conn, err := grpcclient.Dial(a.addr, opts...)
		if err != nil {
			return nil, err
		}
		a.conn = conn
	}
	return a.conn, nil
}

// callCtx bounds one unary call.
func callCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 30*time.Second)
}

// printJSON writes m as indented protojson.
func (a *app) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.out, string(b))
	return err
}

// print writes m as JSON or, for -o table, as the table that fill builds.
func (a *app) print(m proto.Message, fill func(t *table)) error {
	if a.output == "json" {
		return a.printJSON(m)
	}
	t := &table{w: tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)}
	fill(t)
	return t.w.Flush()
}

// table writes aligned columns.
type table struct{ w *tabwriter.Writer }

// row writes one row of cells.
func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.w, strings.Join(s, "\t"))
}

// errArgs reports a wrong number of arguments with the usage line.
var errArgs = errors.New("wrong arguments")

// formatTime renders a timestamp for tables: RFC 3339 in UTC, "-" when unset.
func formatTime(t interface{ AsTime() time.Time }, set bool) string {
	if !set {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// collectPages calls list with the page token of the page before (first
// "") until it has limit items or the last page, and returns at most limit
// items and the token of the page after them ("" after the last).
func collectPages[T any](limit int, list func(pageToken string) (items []T, next string, err error)) ([]T, string, error) {
	var all []T
	next := ""
	for len(all) < limit {
		items, token, err := list(next)
		if err != nil {
			return nil, "", err
		}
		all, next = append(all, items...), token
		if next == "" {
			break
		}
	}
	if len(all) > limit {
		all = all[:limit]
	}
	return all, next, nil
}
