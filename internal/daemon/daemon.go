// Package daemon is Petrel's composition root: it turns the configuration
// into components, binds the listeners, runs everything, and shuts it down
// in order. It is the only package that reads config.
//
// Shutdown order (on ctx cancellation, e.g. SIGTERM):
//  1. readiness turns false; SMTP and HTTP listeners close and in-flight
//     sessions get the grace period to finish. SMTP sessions' contexts
//     derive from ctx: a transaction not yet handed to the store is
//     answered 421 4.3.2 (nothing stored, the client retries), one being
//     committed finishes and is acknowledged, and an idle session is told
//     421 at its next command;
//  2. delivery stops taking work; attempts in flight finish or are cancelled
//     (a cancelled attempt keeps its lease and is retried on restart); the
//     retention pruner stops after its current batch; an import job in
//     flight stops between batches, keeping its lease, and this node
//     restarts it when it starts again;
//  3. the notification engine stops after delivery (whose outcomes feed
//     it): attempts in flight are cancelled and retried at the next start,
//     nothing unsent leaves the outbox or the job table;
//  4. the group committer commits what is queued;
//  5. the store is closed.
package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/petrelmail/petrel/internal/account"
	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/admission"
	"github.com/petrelmail/petrel/internal/api"
	"github.com/petrelmail/petrel/internal/bounce"
	"github.com/petrelmail/petrel/internal/config"
	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/egress"
	"github.com/petrelmail/petrel/internal/event"
	"github.com/petrelmail/petrel/internal/identity"
	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/inbound"
	"github.com/petrelmail/petrel/internal/metrics"
	"github.com/petrelmail/petrel/internal/notify"
	"github.com/petrelmail/petrel/internal/publish"
	"github.com/petrelmail/petrel/internal/queue"
	"github.com/petrelmail/petrel/internal/quota"
	"github.com/petrelmail/petrel/internal/reputation"
	"github.com/petrelmail/petrel/internal/resolver"
	"github.com/petrelmail/petrel/internal/retention"
	"github.com/petrelmail/petrel/internal/sending"
	"github.com/petrelmail/petrel/internal/simulator"
	"github.com/petrelmail/petrel/internal/smtpsubmit"
	"github.com/petrelmail/petrel/internal/sns"
	"github.com/petrelmail/petrel/internal/spool"
	"github.com/petrelmail/petrel/internal/stats"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
	"github.com/petrelmail/petrel/internal/template"
)

// Services are the domain components over one store, used by the daemon
// and by the CLI's administrative commands.
type Services struct {
	DB         *store.DB
	Accounts   *account.Service
	Identities *identity.Service
	ConfigSets *configset.Service
	Queue      *queue.Queue
	Spool      *spool.Spool
	Events     *event.Log
	// Stats counts every event the Log records, whoever writes it (the
	// daemon or a CLI command).
	Stats *stats.Counters
	// Reputation evaluates every account's rates from Stats and keeps its
	// enforcement status (the daemon runs its evaluations).
	Reputation *reputation.Service
	// Contacts are the contact lists (SES list management).
	Contacts *contacts.Service
	// Templates stores the email templates (package template).
	Templates *template.Service
}

// Open opens the store and the domain services for cfg.
func Open(ctx context.Context, cfg config.Config) (*Services, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	accts, err := account.New(db, filepath.Join(cfg.DataDir, "master.key"), cfg.Region)
	if err != nil {
		db.Close()
		return nil, err
	}
	nodeID, err := loadOrCreate(filepath.Join(cfg.DataDir, "node-id"), 8)
	if err != nil {
		db.Close()
		return nil, err
	}
	accts.ProductionQuota = account.Quota{Max24HourSend: cfg.ProductionMax24hSend, MaxSendRate: cfg.ProductionMaxSendRate}
	// Webhook signing secrets are sealed at rest like access keys and DKIM keys.
	sets := configset.New(db)
	sets.SetSealer(accts)
	svc := &Services{DB: db, Accounts: accts, Identities: identity.New(db, accts), ConfigSets: sets,
		Queue: queue.New(db), Spool: spool.New(db), Events: event.NewLog(db), Contacts: contacts.New(db, nil),
		Templates: template.New(db)}
	svc.Identities.DKIMCNAMEZone = cfg.DKIMCNAMEZone
	svc.Stats = stats.New(db, svc.Spool, stats.Config{Node: nodeID})
	svc.Events.Observe(svc.Stats)
	svc.Reputation = reputation.New(db, svc.Stats, sets, reputationConfig(cfg))
	svc.Events.Observe(svc.Reputation)
	return svc, nil
}

// reputationConfig is the reputation part of cfg.
func reputationConfig(cfg config.Config) reputation.Config {
	return reputation.Config{MinVolume: cfg.ReputationMinVolume, MinWindow: time.Duration(cfg.ReputationMinWindow),
		MaxWindow: time.Duration(cfg.ReputationMaxWindow),
		Thresholds: reputation.Thresholds{BounceReview: cfg.ReputationBounceReview, BouncePause: cfg.ReputationBouncePause,
			ComplaintReview: cfg.ReputationComplaintReview, ComplaintPause: cfg.ReputationComplaintPause},
		Growth: reputation.Growth{Factor: cfg.QuotaGrowthFactor, Threshold: cfg.QuotaGrowthThreshold, Interval: time.Duration(cfg.QuotaGrowthInterval),
			Max24HourSend: cfg.QuotaMax24HourSend, MaxSendRate: cfg.QuotaMaxSendRate},
		From: "postmaster@" + cfg.Hostname}
}

// reputationQuotas gives reputation's warm-up the accounts' quotas.
// The daemon's wiring, checked at compile time.
var (
	_ sending.Enforcement = (*reputation.Service)(nil)
	_ api.Reputation      = (*reputation.Service)(nil)
	_ reputation.Mailer   = (*sending.Sender)(nil)
	_ reputation.Quotas   = reputationQuotas{}
)

type reputationQuotas struct {
	accounts *account.Service
	quota    *quota.Quota
}

func (q reputationQuotas) Quota(ctx context.Context, name string) (reputation.Quota, error) {
	a, err := q.accounts.Get(ctx, name)
	if err != nil {
		return reputation.Quota{}, err
	}
	sent, err := q.quota.SentLast24Hours(ctx, name)
	return reputation.Quota{Production: a.ProductionAccessEnabled, Max24HourSend: a.Max24HourSend, MaxSendRate: a.MaxSendRate,
		SentLast24Hours: sent}, err
}

func (q reputationQuotas) SetQuota(ctx context.Context, name string, max24HourSend int64, maxSendRate float64) error {
	return q.accounts.SetQuota(ctx, name, account.Quota{Max24HourSend: max24HourSend, MaxSendRate: maxSendRate})
}

// accountReputations gives /metrics every account's own figures.
func accountReputations(rep *reputation.Service) func(context.Context) ([]metrics.AccountReputation, error) {
	return func(ctx context.Context) ([]metrics.AccountReputation, error) {
		list, err := rep.List(ctx, "")
		if err != nil {
			return nil, err
		}
		out := make([]metrics.AccountReputation, 0, len(list))
		for _, r := range list {
			if r.ConfigurationSet == "" {
				out = append(out, metrics.AccountReputation{Account: r.Account, BounceRate: r.BounceRate(), ComplaintRate: r.ComplaintRate(),
					Status: string(r.Status)})
			}
		}
		return out, nil
	}
}

// Close closes the store.
func (s *Services) Close() error { return s.DB.Close() }

// Checker returns the DNS checker of the identities' verification records
// (--dns, the verify-* timings, --mail-from-mx and --spf-include, both
// defaulting to the return-path domain); log nil discards.
func (s *Services) Checker(cfg config.Config, log *slog.Logger) (*identity.Checker, error) {
	r, err := resolver.New(cfg.DNS)
	if err != nil {
		return nil, err
	}
	return &identity.Checker{S: s.Identities, DNS: r, Log: log,
		Window: time.Duration(cfg.VerifyWindow), Grace: time.Duration(cfg.VerifyGrace), Recheck: time.Duration(cfg.VerifyRecheck),
		PendingFast: time.Duration(cfg.VerifyPendingFast), PendingSlow: time.Duration(cfg.VerifyPendingSlow),
		MailFrom: identity.MailFromExpect{MXHost: cmp.Or(cfg.MailFromMX, cfg.ReturnPathHost()), SPFInclude: cmp.Or(cfg.SPFInclude, cfg.ReturnPathHost())}}, nil
}

// checkEvery is how often the daemon looks for due verification records.
const checkEvery = time.Minute

// Daemon is a running Petrel.
type Daemon struct {
	cfg   config.Config
	log   *slog.Logger
	svc   *Services
	batch *store.Batcher
	deliv *delivery.Deliverer
	rules *bounce.Classifier
	prune *retention.Pruner
	// imports runs suppression-list import jobs (CreateImportJob).
	imports *importjob.Service
	// dkimRotator promotes verified NEXT DKIM keys, retires old ones after
	// the overlap, and runs the automatic rotation schedule.
	dkimRotator *identity.Rotator
	// quota enforces the accounts' sending quotas (its Run: heartbeats).
	quota *quota.Quota
	// checker verifies identities by DNS; nil when no DNS server is known.
	checker *identity.Checker
	// notifier delivers notifications (event destinations, SNS topics,
	// feedback emails) from the outbox the event log writes to.
	notifier *notify.Engine
	cert     *certificate // the SMTP listeners' TLS certificate (ReloadTLS)
	// addrVerifier sends address identities' verification emails and
	// follows their links (the API serves them).
	addrVerifier *identity.AddressVerifier

	submit  *smtpsubmit.Backend // SMTP submission (both listeners)
	inbound *inbound.Backend    // the return-path receiver; nil when disabled

	// metrics are the Prometheus series, served by metricsSrv on metricsL
	// (--metrics); all nil when it is not set, and then nothing is counted.
	metrics    *metrics.Metrics
	metricsSrv *http.Server
	metricsL   net.Listener

	httpSrv, debugSrv                 *http.Server
	smtpSrv, smtpsSrv, inSrv          *smtp.Server
	httpL, smtpL, smtpsL, inL, debugL net.Listener
	ready                             atomic.Bool
	freshConns                        sync.Map // HTTP connections with no request yet
	// budget bounds the message bodies held in memory at once, by the API
	// and SMTP together (max-body-memory).
	budget       *admission.Budget
	httpAdm      *admission.Listener  // the API listener's connection caps
	httpRefusals admission.RefusalLog // logging of connections refused by them
	notReady     admission.RefusalLog // logging of /readyz's 503s with their details
	// Credentials is set when this start created the default account.
	Credentials *account.Key
}

// New builds a daemon and binds its listeners; Run serves.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Daemon, error) {
	svc, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, svc: svc}
	if err := d.build(ctx); err != nil {
		svc.Close()
		d.closeListeners()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) build(ctx context.Context) error {
	cfg, svc := d.cfg, d.svc
	nodeID, err := loadOrCreate(filepath.Join(cfg.DataDir, "node-id"), 8)
	if err != nil {
		return err
	}
	verpKey, err := loadOrCreate(filepath.Join(cfg.DataDir, "verp.key"), 32)
	if err != nil {
		return err
	}
	if d.Credentials, err = Bootstrap(ctx, svc, cfg); err != nil {
		return err
	}
	if d.checker, err = svc.Checker(cfg, d.log.With("component", "identity-check")); err != nil {
		d.log.Warn("identities will not be verified by DNS", "err", err)
	}
	d.batch = store.NewBatcher(svc.DB, 0, 0)
	d.budget = admission.NewBudget(cfg.MaxBodyMemory)
	if d.rules, err = bounce.NewClassifier(cfg.BounceRules); err != nil {
		return fmt.Errorf("bounce-rules: %w", err)
	}
	returnDomain := cfg.ReturnPathHost()
	feedbackKey := bounce.FeedbackKey([]byte(verpKey))
	msgIDDomain := cfg.MessageIDDomain
	if msgIDDomain == "" {
		msgIDDomain = cfg.Hostname
	}
	sender := sending.New(sending.Config{
		MessageIDDomain: msgIDDomain, Region: cfg.Region, NodeID: nodeID, MaxDelivery: time.Duration(cfg.MaxDeliveryTime),
		MaxRecipients: 50, MaxSize: smtpsubmit.MaxMessageBytes, LeaseFor: 5 * time.Minute,
		Feedback: func(id string) [2]string {
			return [2]string{bounce.FeedbackHeader, bounce.FeedbackToken(id, feedbackKey)}
		},
	}, svc.Accounts, svc.Identities, svc.ConfigSets, svc.Queue, svc.Spool, svc.Events, d.batch)
	d.deliv, err = delivery.New(delivery.Config{
		Hostname: cfg.Hostname, NodeID: nodeID, RelayHost: cfg.RelayHost, DNSServer: cfg.DNS, Port: cfg.DeliveryPort, MaxPending: cfg.DeliveryBacklog,
		ReturnPathDomain: returnDomain, VERPSecret: []byte(verpKey),
		RetryBase: time.Duration(cfg.RetryBase), RetryMax: time.Duration(cfg.RetryMax), Rules: d.rules,
	}, svc.Queue, svc.Spool, svc.Events, d.batch, d.log.With("component", "delivery"))
	if err != nil {
		return err
	}
	sender.Delivery = d.deliv
	supp := suppression.New(svc.DB, nil)
	if err := supp.SetGlobalConfig(suppression.GlobalConfig{Initial: time.Duration(cfg.GlobalSuppressionInitial),
		Max:    time.Duration(cfg.GlobalSuppressionMax),
		Memory: max(suppression.DefaultGlobalMemory, time.Duration(cfg.GlobalSuppressionMax))}); err != nil {
		return err
	}
	sender.Suppression, d.deliv.Suppression, d.deliv.ConfigSets = supp, supp, svc.ConfigSets
	// The API's template operations and the send path share one template
	// Service, so that a template written is seen at once by its sends.
	sender.Templates = svc.Templates
	sender.Budget = d.budget // SendBulk's prepared messages share the bodies' budget
	if cfg.Metrics != "" {
		d.metrics = metrics.New(metrics.Config{Queue: svc.Queue, Rules: d.rules, Log: d.log.With("component", "metrics"),
			Reputation: accountReputations(svc.Reputation)})
		svc.Events.Observe(d.metrics)
		d.metricsSrv = &http.Server{Handler: d.metricsMux(), ReadHeaderTimeout: 10 * time.Second}
		if d.metricsL, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	d.quota = quota.New(svc.DB, quota.Config{Node: nodeID, Log: d.log.With("component", "quota")})
	d.dkimRotator = &identity.Rotator{Identities: svc.Identities, Now: time.Now, Overlap: time.Duration(cfg.DKIMOverlap),
		Interval: time.Duration(cfg.DKIMRotationInterval), Log: d.log.With("component", "dkim-rotation")}
	sender.Quota = d.quota
	sender.Enforcement = svc.Reputation
	svc.Reputation.Mailer, svc.Reputation.Log = sender, d.log.With("component", "reputation")
	svc.Reputation.Quotas = reputationQuotas{accounts: svc.Accounts, quota: d.quota}
	svc.Reputation.Contacts = func(ctx context.Context, name string) ([]string, error) {
		a, err := svc.Accounts.Get(ctx, name)
		return a.Details.AdditionalContactEmailAddresses, err
	}

	if d.cert, err = loadCertificate(cfg); err != nil {
		return err
	}
	tlsConfig := d.cert.config()
	if d.imports, err = importjob.New(svc.DB, supp, importjob.Config{ImportDir: cfg.ImportDir, Owner: nodeID, Contacts: svc.Contacts},
		d.log.With("component", "importjob")); err != nil {
		return err
	}
	// The API listener is bound first: the SNS links subscribers follow
	// (SubscribeURL, SigningCertURL) name its port when --public-url is
	// not set, also when --http asks for any free port (":0").
	raw, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	d.httpL = raw // closed by closeListeners if the build fails from here
	topics, guard, err := d.buildNotifications(nodeID, sender, raw.Addr().String())
	if err != nil {
		return err
	}
	topics.Email = emailGate{svc: svc}
	d.addrVerifier = &identity.AddressVerifier{Identities: svc.Identities, Mailer: sender, From: cfg.VerificationSender(),
		PublicURL: publicURL(cfg, raw.Addr().String()), Region: cfg.Region}
	// The administrative commands take these as their defaults.
	if err := RecordIdentitySettings(ctx, svc.Identities, cfg, d.addrVerifier.PublicURL, nodeID, time.Now()); err != nil {
		return fmt.Errorf("recording the identity settings: %w", err)
	}
	// List-Unsubscribe links and mailto: addresses (tokens keyed from the
	// VERP secret, like feedback tokens).
	unsub := &contacts.Unsubscriber{Contacts: svc.Contacts, DB: svc.DB, Events: svc.Events,
		Key: contacts.TokenKey([]byte(verpKey))}
	// List management on send (sending/listmgmt.go): the links it adds name
	// this API listener and, only when the inbound receiver that answers
	// them runs, the mailto: address at the return-path domain, with
	// unsub's key. RFC 8058 wants the one-click URI to be HTTPS: a plain
	// http public URL (the default, http://host:port) still gets the
	// links, so that development setups work, with a warning.
	lists := &sending.Lists{Contacts: unsub.Contacts, Key: unsub.Key, PublicURL: d.addrVerifier.PublicURL}
	if cfg.Inbound != "" {
		lists.Domain = returnDomain
	}
	sender.Lists = lists
	if !strings.HasPrefix(strings.ToLower(lists.PublicURL), "https://") {
		d.log.Warn("List-Unsubscribe links are built on a public URL that is not https: RFC 8058 one-click unsubscribe needs HTTPS, "+
			"so mailbox providers may ignore them; set --public-url https://… behind your TLS proxy", "public_url", lists.PublicURL)
	}
	apiSrv := &api.Server{Accounts: svc.Accounts, Identities: svc.Identities, ConfigSets: svc.ConfigSets, Sender: sender, Events: svc.Events,
		Spool: svc.Spool, Suppression: supp, ImportJobs: d.imports, Contacts: svc.Contacts, Quota: d.quota, Stats: svc.Stats, Log: d.log.With("component", "api"),
		Topics: topics, URLs: guard, SNS: topics.Handler(), Metrics: d.metrics, Reputation: svc.Reputation,
		Region: cfg.Region, Budget: d.budget, BodyTimeout: time.Duration(cfg.HTTPHeaderTimeout), MinBodyRate: int64(cfg.HTTPMinBodyRate),
		AddressVerifier: d.addrVerifier, Unsubscribe: unsub, Templates: svc.Templates}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("/", apiSrv.Handler())
	d.httpSrv = &http.Server{Handler: apiSrv.Guard(mux), ReadHeaderTimeout: time.Duration(cfg.HTTPHeaderTimeout),
		IdleTimeout: time.Duration(cfg.HTTPIdleTimeout), MaxHeaderBytes: maxHeaderBytes, ConnState: d.trackFreshConn,
		ErrorLog: httpErrorLog(d.log.With("component", "api"))}

	d.httpAdm = admission.Listen(raw, admission.Limits{MaxConns: d.httpConnCap(), MaxConnsPerIP: cfg.HTTPMaxConnsPerIP}, d.refuseHTTP)
	d.httpL = d.httpAdm
	be := &smtpsubmit.Backend{Accounts: svc.Accounts, Sender: sender, Log: d.log.With("component", "smtp"), Budget: d.budget,
		Metrics: d.metrics}
	d.submit = be
	smtpLimits := admission.Limits{MaxConns: cfg.SMTPMaxConns, MaxConnsPerIP: cfg.SMTPMaxConnsPerIP}
	if cfg.SMTP != "" {
		d.smtpSrv = smtpsubmit.NewServer(be, cfg.Hostname, tlsConfig)
		l, err := net.Listen("tcp", cfg.SMTP)
		if err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
		d.smtpL = be.Listen(l, smtpsubmit.ListenConfig{Limits: smtpLimits})
	}
	if cfg.SMTPS != "" {
		d.smtpsSrv = smtpsubmit.NewServer(be, cfg.Hostname, tlsConfig)
		l, err := net.Listen("tcp", cfg.SMTPS)
		if err != nil {
			return fmt.Errorf("smtps: %w", err)
		}
		d.smtpsL = be.Listen(l, smtpsubmit.ListenConfig{Limits: smtpLimits, ImplicitTLS: tlsConfig})
	}
	if cfg.Debug != "" {
		dm := http.NewServeMux()
		dm.HandleFunc("/debug/pprof/", pprof.Index)
		dm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		dm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		dm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		d.debugSrv = &http.Server{Handler: dm, ReadHeaderTimeout: 10 * time.Second}
		if d.debugL, err = net.Listen("tcp", cfg.Debug); err != nil {
			return fmt.Errorf("debug: %w", err)
		}
	}
	if cfg.Inbound != "" {
		var mailboxes []string
		for m := range strings.SplitSeq(cfg.InboundMailboxes, ",") {
			if m = strings.TrimSpace(m); m != "" {
				mailboxes = append(mailboxes, m)
			}
		}
		inLog := d.log.With("component", "inbound")
		d.inbound = &inbound.Backend{DB: svc.DB, Batch: d.batch, Spool: svc.Spool, Events: svc.Events, Rules: d.rules,
			Domain: returnDomain, Mailboxes: mailboxes, VERPSecret: []byte(verpKey), FeedbackKey: feedbackKey,
			MaxSize: cfg.InboundMaxSize, MessagesPerMinute: cfg.InboundMessagesPerMinute, BodyBudget: cfg.InboundBodyBudget,
			Memory: d.budget, Log: inLog, Suppression: supp, ConfigSets: svc.ConfigSets, Unsubscribes: unsub}
		d.inSrv = inbound.NewServer(d.inbound, cfg.Hostname)
		d.inSrv.ErrorLog = &serverLog{log: inLog}
		l, err := net.Listen("tcp", cfg.Inbound)
		if err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		d.inL = inbound.Listen(l, admission.Limits{MaxConns: cfg.InboundMaxConns, MaxConnsPerIP: cfg.InboundMaxConnsPerIP})
	}
	d.prune = &retention.Pruner{
		Policy: retention.Policy{Messages: time.Duration(cfg.RetentionMessages), Events: time.Duration(cfg.RetentionEvents),
			Inbound: time.Duration(cfg.RetentionInbound), Statistics: time.Duration(cfg.RetentionStatistics),
			// By then every queue entry is final: its deadline, one more
			// retry interval, and an hour to spare.
			BodyGrace: time.Duration(cfg.MaxDeliveryTime) + time.Duration(cfg.RetryMax) + time.Hour},
		Spool: svc.Spool, Queue: svc.Queue, Events: svc.Events, Inbound: inbound.NewStore(svc.DB), Contacts: svc.Contacts,
		Suppression: supp, DeadLetters: d.notifier, Stats: svc.Stats, Log: d.log.With("component", "retention"),
	}
	return nil
}

// buildNotifications builds the notification side: the SSRF guard every
// tenant URL passes, the SNS-compatible topics, the router that turns
// events into notifications (event destinations, identity topics, feedback
// emails sent through sender), and the engine that delivers them, which
// the event log feeds in each event's own transaction.
//
// httpAddr is the API listener's bound address, which the public URL names
// when --public-url is not set.
func (d *Daemon) buildNotifications(nodeID string, sender *sending.Sender, httpAddr string) (*sns.Service, *egress.Guard, error) {
	cfg, svc := d.cfg, d.svc
	cfg.HTTP = httpAddr
	allow := make([]netip.Prefix, 0, len(cfg.NotifyAllowNetworks))
	for _, p := range cfg.NotifyAllowNetworks {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, nil, fmt.Errorf("notify-allow-networks: %w", err)
		}
		allow = append(allow, pfx)
	}
	guard := egress.New(allow, egress.NewResolver(cfg.DNS))
	var engine *notify.Engine
	topics, err := sns.New(svc.DB, svc.Accounts, svc.Accounts, enqueuer(func(ctx context.Context, jobs ...notify.Job) error {
		return engine.Enqueue(ctx, jobs...)
	}), guard, sns.Config{Region: cfg.Region, PublicURL: cfg.PublicBaseURL(), Hostname: cfg.Hostname,
		RetryPeriod: time.Duration(cfg.NotifyRetryPeriod)})
	if err != nil {
		return nil, nil, err
	}
	router := publish.New(publish.Config{Hostname: cfg.Hostname, TopicGone: func(err error) bool { return errors.Is(err, sns.ErrTopicNotFound) }},
		svc.Spool, svc.ConfigSets, svc.Identities, topics)
	engine = notify.New(svc.DB, notify.Config{NodeID: nodeID, RetryPeriod: time.Duration(cfg.NotifyRetryPeriod),
		HTTP: guard.Client(0), Wants: router.Wants, Log: d.log.With("component", "notify"), Batch: d.batch, Sealer: svc.Accounts, Refresh: router.Refresh},
		router, sender)
	svc.Events.SetOutbox(engine)
	d.notifier = engine
	return topics, guard, nil
}

// publicURL is the base URL of links to the API listener bound at
// httpAddr (config.PublicBaseURL).
func publicURL(cfg config.Config, httpAddr string) string {
	cfg.HTTP = httpAddr
	return cfg.PublicBaseURL()
}

// AddressVerifier returns the daemon's address verifier (tests set its
// clock).
func (d *Daemon) AddressVerifier() *identity.AddressVerifier { return d.addrVerifier }

// emailGate applies the accept path's rules to the email Petrel sends for
// a tenant through its SNS topics (sns.EmailGate): nothing while the
// account's sending is paused (by the tenant, or by reputation
// enforcement), and in the sandbox only to its verified identities and the
// mailbox simulator.
type emailGate struct{ svc *Services }

var _ sns.EmailGate = emailGate{}

func (g emailGate) MayEmail(ctx context.Context, name, rcpt string) error {
	acct, err := g.svc.Accounts.Cached(ctx, name)
	if err != nil {
		return err
	}
	if !acct.SendingEnabled {
		return sns.ErrEmailPaused
	}
	if paused, err := g.svc.Reputation.Paused(ctx, name, ""); err != nil {
		return err
	} else if paused {
		return sns.ErrEmailPaused
	}
	if acct.ProductionAccessEnabled {
		return nil
	}
	a, err := address.ParseMailbox(rcpt)
	if err != nil {
		return fmt.Errorf("%w: %s", sns.ErrEmailUnverified, rcpt)
	}
	if simulator.Is(a.Domain) {
		return nil
	}
	id, err := g.svc.Identities.Authorizing(ctx, name, a)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: %s", sns.ErrEmailUnverified, rcpt)
	}
	return nil
}

// enqueuer adapts a function to sns.Enqueuer (the engine is built after
// the topics its router publishes to).
type enqueuer func(ctx context.Context, jobs ...notify.Job) error

func (f enqueuer) Enqueue(ctx context.Context, jobs ...notify.Job) error { return f(ctx, jobs...) }

// readyz answers 200 "ready" while Petrel can accept mail, else 503 with
// a cause that shows no SQL, paths or other internals (the endpoint is
// unauthenticated; the details go to the log, at most once per 10 s per
// cause): "shutting down", "database unreachable", or "store cannot write
// since T: CAUSE" (T in RFC 3339, CAUSE one of store.Fault's: "disk full",
// "low disk space", "I/O error", …). The store cannot write (store.DB.WriteFault):
//   - after a write failed for a storage reason, until writes succeed
//     again: an idle store is probed every store.ProbeInterval, so this
//     turns without traffic, both ways; on PostgreSQL writes must keep
//     succeeding for store.FaultHold (30 s), since a one-row probe can
//     succeed where a large message fails;
//   - on SQLite, also whenever the data directory's filesystem has less
//     than store.MinFreeSpace (128 MiB) available, room for the largest
//     message: a tiny probe still fits on a nearly full disk.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	if !d.ready.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := d.svc.DB.PingContext(ctx); err != nil {
		d.notReady.Refused(d.log, "not ready", "database unreachable", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if f := d.svc.DB.WriteFault(); f != nil {
		d.notReady.Refused(d.log, "not ready: the store cannot write", f.Cause, "since", f.Since.UTC().Format(time.RFC3339), "err", f.Err)
		http.Error(w, fmt.Sprintf("store cannot write since %s: %s", f.Since.UTC().Format(time.RFC3339), f.Cause), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// maxHeaderBytes bounds an API request's header block (the AWS SDKs send
// about 1.5 KB).
const maxHeaderBytes = 64 << 10

// refuseHTTP answers a connection over the API's caps with a minimal 503
// in SES's shape (before its request is read) and logs the refusal, at most
// once per 10 s with the count since the last line.
func (d *Daemon) refuseHTTP(c net.Conn, reason string) {
	const body = `{"message":"Too many connections; retry the request."}`
	fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"+
		"Content-Type: application/json\r\nx-amzn-ErrorType: ServiceUnavailable\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	d.httpRefusals.Refused(d.log, "API connection refused", reason, "component", "api", "remote", c.RemoteAddr().String(),
		"open", d.httpAdm.Open(), "refused_total", d.httpAdm.Refused())
}

// httpConnCap is http-max-conns, lowered when the process may not open that
// many files besides the SMTP caps and a reserve for the store, delivery
// and files (fdReserve). 0 ("no cap of its own") is as many as that room:
// an API with no cap at all would run the process out of file descriptors,
// and then SMTP and the store with it (issue 10, finding 4).
func (d *Daemon) httpConnCap() int {
	// The other listeners' caps: two SMTP submission listeners and the
	// return-path receiver.
	others := 2*d.cfg.SMTPMaxConns + d.cfg.InboundMaxConns
	return connCap(d.cfg.HTTPMaxConns, others, raiseOpenFiles(), d.log)
}

// connCap is want (0 = none of its own) fitted to the open-files limit
// (0 = unknown) less fdReserve and the other listeners' caps (others);
// never under 64.
func connCap(want, others int, limit uint64, log *slog.Logger) int {
	if limit == 0 {
		return want
	}
	room := int(min(limit, 1<<30)) - fdReserve - others
	if room < 64 {
		room = 64
	}
	switch {
	case want == 0:
		log.Info("http-max-conns is 0: API connections capped at what the open-files limit leaves", "http_max_conns", room, "open_files_limit", limit)
		return room
	case want > room:
		log.Warn("http-max-conns lowered to fit the open-files limit (raise it: ulimit -n, LimitNOFILE)",
			"http_max_conns", want, "lowered_to", room, "open_files_limit", limit)
		return room
	}
	return want
}

// fdReserve is the file descriptors kept for everything but the listeners'
// connections: database, delivery connections, files.
const fdReserve = 1024

// raiseOpenFiles raises the soft RLIMIT_NOFILE to the hard limit (Go does
// this at start too, this makes it explicit) and returns it (0 = unknown).
func raiseOpenFiles() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return lim.Cur
}

func (d *Daemon) trackFreshConn(c net.Conn, state http.ConnState) {
	if state == http.StateNew {
		d.freshConns.Store(c, nil)
	} else {
		d.freshConns.Delete(c)
	}
}

// metricsMux serves /metrics on the --metrics listener.
func (d *Daemon) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler())
	return mux
}

// Addr returns the bound address of a listener: "http", "smtp", "smtps", "inbound", "debug", "metrics".
func (d *Daemon) Addr(name string) string {
	l := map[string]net.Listener{"http": d.httpL, "smtp": d.smtpL, "smtps": d.smtpsL, "inbound": d.inL, "debug": d.debugL,
		"metrics": d.metricsL}[name]
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Reload is what SIGHUP does: ReloadRules, then ReloadTLS. Each logs its
// outcome; a file that cannot be loaded leaves what is in force.
func (d *Daemon) Reload() {
	d.ReloadRules()
	d.ReloadTLS()
}

// ReloadRules reads the operator's bounce rule file again (SIGHUP, or
// petrel bounce rules reload). A file with errors leaves the rules in force.
// The outcome is also written to RulesStatusPath, where the CLI reads it.
func (d *Daemon) ReloadRules() error {
	err := d.rules.Reload()
	st := RulesStatus{Time: time.Now().UTC(), PID: os.Getpid(), File: d.rules.Path(), Rules: len(d.rules.RuleSet().Rules())}
	if err != nil {
		st.Error = err.Error()
		d.log.Error("bounce rules not reloaded; the previous rules stay in force", "file", d.rules.Path(), "err", err)
	} else {
		d.log.Info("bounce rules reloaded", "file", d.rules.Path(), "rules", st.Rules)
	}
	if werr := writeRulesStatus(RulesStatusPath(d.cfg), st); werr != nil {
		d.log.Warn("writing bounce rules status", "err", werr)
	}
	return err
}

// RulesStatus is the outcome of the last bounce rule reload.
type RulesStatus struct {
	Time  time.Time `json:"time"`
	PID   int       `json:"pid"`             // the daemon that reloaded
	File  string    `json:"file"`            // the operator's file ("" = built-in rules only)
	Rules int       `json:"rules"`           // rules in force after the reload
	Error string    `json:"error,omitempty"` // why the file was refused (the previous rules stay)
}

// RulesStatusPath is where a running daemon records its last rule reload.
func RulesStatusPath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "bounce-rules.status")
}

// RequestRulesReload asks the daemon running on cfg's data directory to
// reload its bounce rules (SIGHUP to the pid in PIDPath, which rereads its
// TLS certificate too) and waits up to timeout for the outcome it records. A refused file is a RulesStatus with
// Error set, not an error.
func RequestRulesReload(cfg config.Config, timeout time.Duration) (RulesStatus, error) {
	b, err := os.ReadFile(PIDPath(cfg))
	if err != nil {
		return RulesStatus{}, fmt.Errorf("no running petrel for data directory %s (%w)", cfg.DataDir, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return RulesStatus{}, fmt.Errorf("%s: %w", PIDPath(cfg), err)
	}
	asked := time.Now()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return RulesStatus{}, fmt.Errorf("signalling petrel (pid %d): %w", pid, err)
	}
	for deadline := asked.Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err := readRulesStatus(cfg); err == nil && !st.Time.Before(asked) {
			return st, nil
		}
	}
	return RulesStatus{}, fmt.Errorf("asked petrel (pid %d) to reload its bounce rules; no answer within %s, see its log", pid, timeout)
}

// readRulesStatus reads the last reload's outcome.
func readRulesStatus(cfg config.Config) (RulesStatus, error) {
	var st RulesStatus
	b, err := os.ReadFile(RulesStatusPath(cfg))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// writeRulesStatus replaces the status file in one rename, so a reader
// never sees half of it.
func writeRulesStatus(path string, st RulesStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// BounceRules returns the bounce rules in force.
func (d *Daemon) BounceRules() *bounce.RuleSet { return d.rules.RuleSet() }

// PIDPath is where a running daemon writes its process ID, for petrel
// bounce rules reload to signal it.
func PIDPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "petrel.pid") }

// Services returns the daemon's domain services.
func (d *Daemon) Services() *Services { return d.svc }

func (d *Daemon) closeListeners() {
	for _, l := range []net.Listener{d.httpL, d.smtpL, d.smtpsL, d.inL, d.debugL, d.metricsL} {
		if l != nil {
			l.Close()
		}
	}
}

// Run serves until ctx is done, then shuts down in order and closes the
// store. SIGHUP calls Reload.
func (d *Daemon) Run(ctx context.Context) error {
	// Before anything is served: a SIGHUP sent once a listener answers is
	// never the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	batchCtx, stopBatch := context.WithCancel(context.Background())
	var batchWG sync.WaitGroup
	batchWG.Go(func() { d.batch.Run(batchCtx) })
	delivCtx, stopDeliv := context.WithCancel(context.Background())
	var delivWG sync.WaitGroup
	var delivErr error
	delivWG.Go(func() { delivErr = d.deliv.Run(delivCtx) })
	notifyCtx, stopNotify := context.WithCancel(context.Background())
	var notifyWG sync.WaitGroup
	notifyWG.Go(func() { d.notifier.Run(notifyCtx) })
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	var pruneWG sync.WaitGroup
	pruneWG.Go(func() { d.prune.Run(pruneCtx) })
	importCtx, stopImports := context.WithCancel(context.Background())
	var importWG sync.WaitGroup
	importWG.Go(func() { d.imports.Run(importCtx) })
	repCtx, stopRep := context.WithCancel(context.Background())
	var repWG sync.WaitGroup
	repWG.Go(func() { d.svc.Reputation.Run(repCtx) })
	repWG.Go(func() { d.dkimRotator.Run(repCtx, time.Minute) })
	// The suppression prefilter and the quota heartbeats live as long as
	// the process serves.
	prefilterCtx, stopPrefilter := context.WithCancel(context.Background())
	defer stopPrefilter()
	var prefilterWG sync.WaitGroup
	prefilterWG.Go(func() { d.prune.Suppression.RunPrefilter(prefilterCtx, d.log.With("component", "suppression")) })
	prefilterWG.Go(func() { d.quota.Run(prefilterCtx) })
	if d.checker != nil {
		prefilterWG.Go(func() { d.checker.Run(prefilterCtx, checkEvery) })
	}

	// SMTP sessions work under a context of ctx that shutdown (whatever
	// its cause) cancels, and with it what they have in flight.
	sessCtx, endSessions := context.WithCancel(ctx)
	defer endSessions()
	sessions := func() context.Context { return sessCtx }
	d.submit.BaseContext = sessions
	if d.inbound != nil {
		d.inbound.BaseContext = sessions
	}
	errc := make(chan error, 6)
	var serveWG sync.WaitGroup
	serve := func(name string, f func() error) {
		serveWG.Go(func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	serve("http", func() error { return d.httpSrv.Serve(d.httpL) })
	if d.smtpSrv != nil {
		serve("smtp", func() error { return d.smtpSrv.Serve(d.smtpL) })
	}
	if d.smtpsSrv != nil {
		serve("smtps", func() error { return d.smtpsSrv.Serve(d.smtpsL) })
	}
	if d.inSrv != nil {
		serve("inbound", func() error { return d.inSrv.Serve(d.inL) })
	}
	if d.debugSrv != nil {
		serve("debug", func() error { return d.debugSrv.Serve(d.debugL) })
	}
	if d.metricsSrv != nil {
		serve("metrics", func() error { return d.metricsSrv.Serve(d.metricsL) })
	}
	d.ready.Store(true)
	d.log.Info("petrel is running", "http", d.Addr("http"), "smtp", d.Addr("smtp"), "smtps", d.Addr("smtps"),
		"inbound", d.Addr("inbound"), "database", d.svc.DB.Dialect.String(), "data_dir", d.cfg.DataDir)

	pidFile := PIDPath(d.cfg)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		d.log.Warn("writing pid file", "path", pidFile, "err", err)
	}
	defer os.Remove(pidFile)

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-errc:
			break wait
		case <-hup:
			d.Reload()
		}
	}
	d.ready.Store(false)
	endSessions()
	d.log.Info("shutting down")
	grace, cancel := context.WithTimeout(context.Background(), time.Duration(d.cfg.ShutdownGrace))
	defer cancel()
	// Shutdown closes idle connections at once but waits 5 s for those that
	// have sent nothing yet (clients' spare keep-alive connections): close them.
	d.freshConns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
	d.httpSrv.Shutdown(grace)
	if d.debugSrv != nil {
		d.debugSrv.Close()
	}
	if d.metricsSrv != nil {
		d.metricsSrv.Close()
	}
	for _, s := range []*smtp.Server{d.smtpSrv, d.smtpsSrv, d.inSrv} {
		if s != nil {
			if err := s.Shutdown(grace); err != nil {
				s.Close()
			}
		}
	}
	// go-smtp's Shutdown closes only the listeners its Serve has registered:
	// a Serve that had not started yet would then accept for ever. Closing
	// them here ends it either way.
	d.closeListeners()
	serveWG.Wait()
	stopDeliv()
	stopPrune()
	stopImports()
	stopPrefilter()
	stopRep()
	delivWG.Wait()
	// After delivery, whose outcomes feed the outbox: what is not sent
	// stays in the outbox and the job table for the next start.
	stopNotify()
	notifyWG.Wait()
	pruneWG.Wait()
	importWG.Wait()
	prefilterWG.Wait()
	repWG.Wait()
	stopBatch()
	batchWG.Wait()
	err := d.svc.Close()
	d.log.Info("stopped")
	return errors.Join(runErr, delivErr, err)
}

// loadOrCreate returns the hex secret in path, creating n random bytes there
// (mode 0600) on first use.
func loadOrCreate(path string, n int) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, n)
	rand.Read(b)
	s := hex.EncodeToString(b)
	if err := writeFileSync(path, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	return s, nil
}

func writeFileSync(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
