package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"sigs.k8s.io/yaml"

	"github.com/barista-cdp/barista/pkg/auth"
)

// credentials returns the dial options that send the caller's token, from
// --token-file or BARISTA_TOKEN; none when neither is set (dev mode).
func (a *app) credentials() ([]grpc.DialOption, error) {
	token := os.Getenv("BARISTA_TOKEN")
	if a.tokenFile != "" {
		data, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = string(data)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(auth.Token(token))}, nil
}

func (a *app) authCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Credentials for a production suite",
	}
	cmd.AddCommand(a.authKeyCommand())
	return cmd
}

func (a *app) authKeyCommand() *cobra.Command {
	var name string
	var scopes []string
	var rate float64
	cmd := &cobra.Command{
		Use:   "key --name NAME --scopes SCOPE,...",
		Short: "Make a new API key and the credentials-file entry that accepts it",
		Long: `Makes a random API key. The key goes to stderr, once: give it to the caller.
The entry for the credentials file (--auth-file of the services) goes to stdout,
as an item of its keys list, ready to append after a "keys:" line; it holds only
the key's SHA-256, so the file reveals no key.

Scopes: admin, pii, and <resource>:read|write for the resources ` + strings.Join(auth.Resources, ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entry := auth.KeyConfig{Name: name, Scopes: scopes, Rate: rate}
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return err
			}
			key := "bk_" + base64.RawURLEncoding.EncodeToString(raw)
			entry.SHA256 = auth.HashKey(key)
			// Validate the entry exactly as the services will.
			if _, err := auth.New(auth.Config{Keys: []auth.KeyConfig{entry}}); err != nil {
				return err
			}
			out, err := yaml.Marshal([]auth.KeyConfig{entry})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "API key for %s (shown once): %s\n", name, key)
			_, err = a.out.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who uses the key, as logs and limits name it (required)")
	cmd.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes granted, comma separated (required)")
	cmd.Flags().Float64Var(&rate, "rate", 0, "requests per second allowed; 0 for the file's default")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scopes")
	return cmd
}
