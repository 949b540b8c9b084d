package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
)

// DefaultAccount is the account created on first start.
const DefaultAccount = "default"

// Bootstrap creates the default account and its first access key when the
// store has no accounts, and writes the credentials file. It returns the new
// key, or nil when accounts already existed.
func Bootstrap(ctx context.Context, svc *Services, cfg config.Config) (*account.Key, error) {
	list, err := svc.Accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) > 0 {
		return nil, nil
	}
	// Production and unlimited: the operator's own account (docs/quotas.md).
	if _, err := svc.Accounts.CreateWith(ctx, DefaultAccount, account.CreateOptions{Unlimited: true}); err != nil && !errors.Is(err, account.ErrExists) {
		return nil, err
	}
	k, err := svc.Accounts.CreateKey(ctx, DefaultAccount)
	if err != nil {
		return nil, err
	}
	if err := WriteCredentials(CredentialsPath(cfg), "petrel", k, cfg.Region); err != nil {
		return nil, err
	}
	return &k, nil
}

// CredentialsPath is where the default account's credentials are written.
func CredentialsPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "credentials") }

// WriteCredentials writes k as an AWS shared-credentials file (mode 0600)
// with one profile, plus the SMTP username and password (extra keys, which
// AWS SDKs and CLIs ignore).
func WriteCredentials(path, profile string, k account.Key, region string) error {
	content := fmt.Sprintf("# Petrel credentials for account %q.\n"+
		"# API:  AWS_SHARED_CREDENTIALS_FILE=%s aws --profile %s --region %s --endpoint-url http://HOST:PORT sesv2 ...\n"+
		"# SMTP: AUTH with smtp_username / smtp_password below (STARTTLS or implicit TLS).\n"+
		"[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\nsmtp_username = %s\nsmtp_password = %s\n",
		k.Account, path, profile, region, profile, k.AccessKeyID, k.SecretAccessKey, k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, region))
	return writeFileSync(path, []byte(content), 0o600)
}
