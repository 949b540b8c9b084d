// Command petrel is the Petrel mail platform: an Amazon SES-compatible
// sending service in one binary.
//
//	petrel serve [flags]                         run the server (see --help)
//	petrel account create NAME | list            manage accounts
//	petrel account reputation NAME | resume NAME [--configuration-set S]
//	petrel credentials create --account NAME     new access key + SMTP password
//	petrel credentials list|disable|enable|delete --account A [KEYID|--network CIDR]
//	petrel identity add NAME --account A [--verified] | verify | list | delete | check | dkim
//	petrel identity verify-email ADDRESS --account A [--resend]
//	petrel identity notifications NAME --account A [...] | configuration-set NAME --account A [SET|--clear]
//	petrel events [--message-id ID] [--type T] [--account A] [--follow]
//	petrel bounce classify [FILE|-] [--json] [--explain] [--reply LINE]
//	petrel bounce rules list | check FILE | reload
//	petrel inbound [--state S]                  what arrived at the return path
//	petrel inbound purge [--state S] [--before D] [--all]
//	petrel suppression list|get|add|remove|export|attributes [--account A]
//	petrel contacts list|get [EMAIL] [--account A] [--list NAME]
//	petrel notifications list|test|dead-letters|replay [--account A]
//	petrel template list|get NAME|put NAME|render NAME [--account A]
//	petrel storage                               rows and bytes stored, by kind
//	petrel stats [--account A] [--since 24h] [--by identity|configuration-set|isp] [--daily]
//	petrel version
//
// Administrative commands work on the same data directory / database as
// serve (--data-dir, --database), and may run while it does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/daemon"
	"github.com/petrelmail/petrel/internal/dkim"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
)

const usage = `usage: petrel <command> [arguments]

commands:
  serve                               run Petrel (petrel serve --help for flags)
  account create NAME [--production]  create an account, in the sandbox unless --production
  account list                        list accounts: sandbox or production, quota, sending
  account show NAME                   an account's access, quota and use, review, sending
  account production NAME --grant|--deny
                                      decide the account's production-access request
  account quota NAME [--max-24h-send N] [--max-send-rate R]
                                      set the account's sending quota (-1 = unlimited)
  account reputation NAME             bounce and complaint rates, enforcement status, recent changes
  account resume NAME [--configuration-set SET]
                                      lift a reputation pause (SHUTDOWN): HEALTHY, fresh start
  credentials create --account NAME   create an access key and SMTP password
  credentials create --account NAME --network CIDR
                                      let SMTP clients from CIDR submit without AUTH
  credentials list [--account NAME]   access keys (Active/Inactive) and network credentials
  credentials disable|enable|delete --account NAME KEYID
                                      revoke or restore an access key; its SMTP
                                      credential (username = key id) goes with it
  credentials delete --account NAME --network CIDR
                                      delete a network credential
  identity add NAME --account A [--verified]
                                      add an email address or domain identity
  identity verify NAME --account A    mark an identity verified (the operator's vouch)
  identity check NAME --account A [--dns HOST:PORT] [--dkim-cname-zone ZONE] [--mail-from-mx H] ...
                                      look the identity's DNS records up now and print, per
                                      record, what is expected, what DNS returned and its state,
                                      with the running petrel serve's settings (a flag that
                                      changes one makes the check report-only: nothing saved)
  identity verify-email ADDRESS --account A [--resend] [--public-url URL]
                                      an address identity's verification state and links;
                                      --resend sends a new verification email
  identity list --account A           list identities
  identity delete NAME --account A    delete an identity
  identity dkim DOMAIN --account A [--dkim rsa2048|rsa1024|ed25519 | --key FILE --selector S]
                   [--dkim-cname-zone ZONE]
                                      show the domain's DKIM keys and the records (CNAME into ZONE,
                                      default petrel serve's, or TXT) to publish; generate a new key, or install your own
                                      (a domain's first key signs at once; a later one
                                      once its record verifies, as rotate)
  identity dkim rotate DOMAIN --account A [--key-length rsa2048|rsa1024|ed25519] [--dkim-cname-zone ZONE]
                                      make a new key under a new selector: publish its
                                      record; signing moves to it once the record verifies
  identity notifications NAME --account A [--bounce-topic ARN] [--complaint-topic ARN]
                   [--delivery-topic ARN] [--headers-in bounce,complaint,delivery|none] [--forwarding on|off]
                                      show or set where the identity's bounce, complaint and
                                      delivery notifications go ("none" clears a topic)
  identity configuration-set NAME --account A [SET|--clear]
                                      show, set or clear the identity's default configuration set
  events [--message-id ID] [--type T] [--account A] [--follow]
                                      print events as JSON lines (SES format)
  bounce classify [FILE|-] [--json] [--explain] [--reply "550 5.1.1 ..."]
                                      say what a bounce, complaint or auto-reply
                                      email (or one SMTP reply) means
  bounce rules list [--bounce-rules FILE]
                                      the bounce rules in force, in order
  bounce rules check FILE             validate an operator rule file
  bounce rules reload                 make the running petrel reread its --bounce-rules file
                                      and its TLS certificate (SIGHUP)
  inbound [--state unattributed]      what arrived at the return path, with counts
  inbound purge [--state S] [--before DURATION] [--all]
                                      delete return-path mail (e.g. --state ignored --before 7d)
  suppression list [--account A] [--reason R] [--since T] [--until T] [--json]
                                      the account's suppression list (T: 2026-01-02,
                                      2026-01-02T15:04:05Z, or a duration ago: 7d)
  suppression get ADDRESS [--account A]
                                      one entry, with the message and cause that added it
  suppression add ADDRESS --reason BOUNCE|COMPLAINT [--account A]
                                      suppress an address (as PutSuppressedDestination)
  suppression remove ADDRESS [--account A]
                                      lift an address (as DeleteSuppressedDestination)
  suppression import FILE [--action PUT|DELETE] [--format csv|json] [--account A]
                                      an import job (as CreateImportJob) run here, with
                                      progress, counts and the failed records
  suppression export [--format csv|json] [--out FILE] [--account A] [--reason R]
                                      the list as SES's import job reads it (address,reason
                                      or {"emailAddress","reason"} lines)
  suppression attributes [--reasons BOUNCE,COMPLAINT|none] [--soft-bounce COUNT/WINDOW/FOR[:reason,...]|off]
                                      show or set which outcomes add addresses, and the
                                      soft-bounce policy (e.g. 3/72h/7d:mailbox-full)
  suppression global list [--limit N] [--after ADDRESS]
                                      the global list every account shares (operator only)
  suppression global add ADDRESS [--for DURATION] [--cause TEXT]
                                      list an address globally (default 14d)
  suppression global remove ADDRESS   unlist it and forget its hard bounces
  contacts list [--account A] [--list NAME] [--topic T] [--status OPT_IN|OPT_OUT] [--use-default] [--json]
                                      the contacts of the account's contact list with each
                                      topic's status; --topic/--status filter as ListContacts
  contacts get EMAIL [--account A] [--list NAME] [--json]
                                      one contact: preferences, defaults, attributes
  notifications list [--account A]    notification queues by target: pending, in flight,
                                      dead letters, oldest, last error
  notifications test --account A [--configuration-set S] [--from IDENTITY] [--event-type T]
                                      queue a sample event (T: DELIVERY, BOUNCE, …) for the
                                      running petrel to route to the account's destinations
  notifications dead-letters [--account A] [--limit N]
                                      notifications not delivered within the retry period
  notifications replay [--account A] ID... | --all
                                      deliver dead letters again (same IDs, fresh retry period)
  template list [--account A] [--json]
                                      the account's email templates, by name
  template get NAME [--account A]     one template as JSON (GetEmailTemplate's shape)
  template put NAME [--subject S] [--text FILE] [--html FILE] [--json-file FILE] [--account A]
                                      create or replace a template's content (- reads standard input;
                                      --json-file: as template get prints it, or its TemplateContent)
  template render NAME --data JSON | --data-file FILE [--account A]
                                      the MIME message TestRenderEmailTemplate returns
  storage                             rows and bytes stored: bodies pending delivery, message
                                      records, events, return-path mail by state
  stats [--account A] [--since 24h] [--until T] [--by identity|configuration-set|isp] [--daily] [--json]
                                      sends, deliveries, bounces, complaints, delays and the
                                      bounce and complaint rates as SES counts them, per account
                                      (and identity, set or ISP); --daily: per day and identity
  version                             print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	cmd, args := os.Args[1], os.Args[2:]
	if cmd != "serve" && wantsHelp(args) {
		// "petrel identity --help", "petrel bounce rules -h": the
		// command's lines of the usage, without opening the data directory.
		fmt.Print(commandUsage(cmd))
		return
	}
	switch cmd {
	case "serve":
		err = serve(ctx, args)
	case "account":
		err = accountCmd(ctx, args)
	case "credentials":
		err = credentialsCmd(ctx, args, os.Stdout, os.Stderr)
	case "identity":
		err = identityCmd(ctx, args, os.Stdout)
	case "events":
		err = eventsCmd(ctx, args)
	case "bounce":
		err = bounceCmd(args)
	case "inbound":
		err = inboundCmd(ctx, args, os.Stdout)
	case "storage":
		err = storageCmd(ctx, args, os.Stdout)
	case "stats":
		err = statsCmd(ctx, args, os.Stdout)
	case "suppression":
		err = suppressionCmd(ctx, args, os.Stdout)
	case "contacts":
		err = contactsCmd(ctx, args, os.Stdout)
	case "notifications":
		err = notificationsCmd(ctx, args, os.Stdout)
	case "template":
		err = templateCmd(ctx, args, os.Stdout)
	case "version":
		fmt.Println("petrel", version())
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "petrel: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "petrel:", err)
		os.Exit(1)
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return bi.Main.Version + " " + s.Value
			}
		}
		return bi.Main.Version
	}
	return "unknown"
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	d, err := daemon.New(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		// SIGINT or SIGTERM while starting: a stop asked for, with nothing
		// accepted yet to drain, so a clean exit (0) as after Run.
		log.Info("stopped while starting", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	if k := d.Credentials; k != nil {
		printWelcome(cfg, d, *k)
	}
	return d.Run(ctx)
}

func printWelcome(cfg config.Config, d *daemon.Daemon, k account.Key) {
	creds, _ := filepath.Abs(daemon.CredentialsPath(cfg))
	// Under go run the program is a temporary file: name the binary the
	// README builds instead.
	self, build := os.Args[0], ""
	if strings.Contains(self, "go-build") {
		self, build = "./petrel", " (build ./petrel first: go build -o petrel ./cmd/petrel)"
	}
	fmt.Fprintf(os.Stderr, `
Created account %q. Its credentials are in %s (profile "petrel"):
  access key id:  %s
  SMTP username:  %s
  SMTP password:  %s

Send with the AWS CLI%s:
  export AWS_SHARED_CREDENTIALS_FILE=%s
  %s identity add example.com --account default --verified --data-dir %s
  aws --profile petrel --region %s --endpoint-url http://%s sesv2 send-email \
    --from-email-address sender@example.com \
    --destination ToAddresses=success@simulator.amazonses.com \
    --content 'Simple={Subject={Data=Hello},Body={Text={Data=Hi}}}'

`, k.Account, creds, k.AccessKeyID, k.AccessKeyID, account.SMTPPassword(k.SecretAccessKey, cfg.Region),
		build, creds, self, cfg.DataDir, cfg.Region, d.Addr("http"))
}

// adminFlags parses the store-locating flags plus the command's own, allowing
// flags after positional arguments ("identity add example.com --verified").
// wantsHelp reports whether args ask for help: "help" first, or -h or
// --help anywhere.
func wantsHelp(args []string) bool {
	if len(args) > 0 && args[0] == "help" {
		return true
	}
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" })
}

// commandUsage returns the usage lines of cmd (with their continuation
// lines), or the whole usage when it has none.
func commandUsage(cmd string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.SplitAfter(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+cmd+" ") || strings.TrimSpace(line) == cmd:
			in = true
		case !strings.HasPrefix(line, "   "):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		return usage
	}
	return "usage: petrel " + cmd + " ...\n\n" + b.String()
}

func adminFlags(name string, args []string, define func(fs *flag.FlagSet)) (config.Config, []string, error) {
	cfg := config.Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "empty for SQLite in the data dir, or a postgres:// URL")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region for SMTP password derivation")
	if define != nil {
		define(fs)
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return cfg, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return cfg, positional, nil
}

// adminOpen parses an admin command's flags as adminFlags does and opens
// the data directory, or database, they name (open); the caller closes the
// services. A flag error comes before any opening.
func adminOpen(ctx context.Context, name string, args []string, define func(fs *flag.FlagSet)) (*daemon.Services, []string, error) {
	cfg, pos, err := adminFlags(name, args, define)
	if err != nil {
		return nil, nil, err
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return svc, pos, nil
}

func open(ctx context.Context, cfg config.Config) (*daemon.Services, error) {
	if _, err := os.Stat(cfg.DataDir); err != nil && cfg.Database == "" {
		return nil, fmt.Errorf("no data directory %s (run petrel serve first, or pass --data-dir)", cfg.DataDir)
	}
	return daemon.Open(ctx, cfg)
}

func identityCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: petrel identity add|verify|verify-email|list|delete|dkim|notifications|configuration-set [NAME] --account A")
	}
	switch args[0] {
	case "notifications":
		return identityNotificationsCmd(ctx, args[1:], out)
	case "configuration-set":
		return identityConfigSetCmd(ctx, args[1:], out)
	case "dkim":
		if len(args) > 1 && args[1] == "rotate" {
			return identityDKIMRotateCmd(ctx, args[2:], out)
		}
	case "check":
		return identityCheckCmd(ctx, args[1:], out)
	case "verify-email":
		return identityVerifyEmailCmd(ctx, args[1:], out)
	}
	var acct, dkimAlg, keyFile, selector string
	var verified bool
	var df daemonFlags
	svc, pos, err := adminOpen(ctx, "identity", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&acct, "account", daemon.DefaultAccount, "account the identity belongs to")
		fs.BoolVar(&verified, "verified", false, "mark the identity verified (the operator vouches for it)")
		fs.StringVar(&dkimAlg, "dkim", "", "add/dkim: generate a DKIM key of this type for a domain: rsa2048 (add's default), rsa1024, ed25519, or none")
		fs.StringVar(&keyFile, "key", "", "dkim: install this private key (PEM or base64 DER; BYODKIM) under --selector")
		fs.StringVar(&selector, "selector", "", "dkim: selector of the --key")
		df.define(fs, "dkim-cname-zone")
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	ds, err := df.apply(ctx, svc)
	if err != nil {
		return err
	}
	zone := ds.DKIMCNAMEZone
	if _, err := svc.Accounts.Get(ctx, acct); err != nil {
		return err
	}
	needName := func() error {
		if len(pos) != 1 {
			return fmt.Errorf("usage: petrel identity %s NAME --account A", args[0])
		}
		return nil
	}
	switch args[0] {
	case "add":
		if err := needName(); err != nil {
			return err
		}
		id, err := svc.Identities.Create(ctx, acct, pos[0], verified)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "added %s identity %s to account %s (verified=%v)\n", strings.ToLower(string(id.Kind)), id.Name, acct, id.Verified)
		if id.Kind == identity.Domain && dkimAlg != "none" {
			if dkimAlg == "" {
				dkimAlg = string(dkim.RSA2048) // SES Easy DKIM default
			}
			d, err := generateDKIM(ctx, svc, acct, id.Name, dkimAlg)
			if err != nil {
				return err
			}
			token, err := svc.Identities.VerificationToken(ctx, acct, id.Name)
			if err != nil {
				return err
			}
			printDKIM(out, id.Name, d, zone, token)
		}
	case "dkim":
		if err := needName(); err != nil {
			return err
		}
		switch {
		case keyFile != "":
			pem, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			if err := notEmpty(pem, "dkim", "key", keyFile, "it must hold a private key (PEM or base64 DER)"); err != nil {
				return err
			}
			if _, err := svc.Identities.PutDKIMKey(ctx, acct, pos[0], selector, pem); err != nil {
				return err
			}
		case dkimAlg != "":
			if _, err := generateDKIM(ctx, svc, acct, pos[0], dkimAlg); err != nil {
				return err
			}
		}
		if err := printDKIMKeys(ctx, out, svc.Identities, acct, pos[0], zone); err != nil {
			return err
		}
	case "verify":
		if err := needName(); err != nil {
			return err
		}
		if err := svc.Identities.SetVerified(ctx, acct, pos[0], true); err != nil {
			return err
		}
		fmt.Fprintf(out, "identity %s of account %s is verified\n", pos[0], acct)
	case "list":
		ids, err := svc.Identities.List(ctx, acct, "", 100000)
		if err != nil {
			return err
		}
		for _, id := range ids {
			fmt.Fprintf(out, "%s\t%s\tverified=%v\n", id.Name, id.Kind, id.Verified)
		}
	case "delete":
		if err := needName(); err != nil {
			return err
		}
		if err := svc.Identities.Delete(ctx, acct, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted identity %s of account %s\n", pos[0], acct)
	default:
		return fmt.Errorf("unknown identity command %q", args[0])
	}
	return nil
}

func generateDKIM(ctx context.Context, svc *daemon.Services, acct, domain, algName string) (identity.DKIM, error) {
	alg, err := dkim.ParseAlgorithm(algName)
	if err != nil {
		return identity.DKIM{}, err
	}
	return svc.Identities.GenerateDKIM(ctx, acct, domain, alg)
}

// eventPage reads the next page of events matching f, each with its
// message's "mail" object (one query for the page's objects), as SES
// publishes them.
func eventPage(ctx context.Context, svc *daemon.Services, f event.Filter) ([]event.Event, error) {
	list, err := svc.Events.List(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.MessageID
	}
	mails, err := svc.Spool.MailObjects(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Mail = mails[list[i].MessageID]
	}
	return list, nil
}

func eventsCmd(ctx context.Context, args []string) error {
	var f event.Filter
	var kind string
	var follow bool
	cfg, _, err := adminFlags("events", args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.MessageID, "message-id", "", "only events of this message")
		fs.StringVar(&kind, "type", "", "only events of this type (Send, Reject, Delivery, Bounce, Complaint, DeliveryDelay, \"Rendering Failure\", Subscription, AutoResponse; or as SES's API spells them: RENDERING_FAILURE, …)")
		fs.StringVar(&f.Account, "account", "", "only events of this account")
		fs.BoolVar(&follow, "follow", false, "keep printing new events as they happen")
	})
	if err != nil {
		return err
	}
	if kind != "" {
		if f.Kind, err = parseKind(kind); err != nil {
			return err
		}
	}
	svc, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for {
		list, err := eventPage(ctx, svc, f)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range list {
			if err := enc.Encode(e); err != nil {
				return err
			}
			f.AfterID = e.ID
		}
		if len(list) == 1000 {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(300 * time.Millisecond):
		}
	}
}
