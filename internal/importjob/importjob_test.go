package importjob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/petrelmail/petrel/internal/address"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// newService returns a Service over a fresh store of backend, with import
// directory dir ("" = none) and lease owner owner.
func newService(t testing.TB, db *store.DB, dir, owner string, log *slog.Logger) *Service {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := New(db, suppression.New(db, nil), Config{ImportDir: dir, Owner: owner, Poll: 10 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eachBackend runs f on a fresh store of each backend, as a subtest named
// after the backend.
func eachBackend(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for _, b := range store.Backends() {
		t.Run(b, func(t *testing.T) { f(t, store.OpenTest(t, b)) })
	}
}

// run runs s.Run for the rest of the test.
func run(t testing.TB, s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// wait polls job id until it is COMPLETED or FAILED.
func wait(t testing.TB, s *Service, account, id string) Job {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		j, err := s.Get(context.Background(), account, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == Completed || j.Status == Failed {
			return j
		}
	}
	t.Fatalf("job %s did not finish", id)
	return Job{}
}

func isInput(err error, want string) bool {
	var in *InputError
	return errors.As(err, &in) && strings.Contains(in.Msg, want)
}

// File sources: only regular files under the account's own subdirectory
// <import dir>/<account>/, after symbolic links are resolved; none at all
// without an import directory; s3:// is refused naming the two
// alternatives. A path refused for where it is or what it names gets the
// same answer whether or not a file is there, so an account cannot learn
// which of the operator's or another account's files exist.
func TestSources(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		root := t.TempDir()
		dir := filepath.Join(root, "imports")
		own := filepath.Join(dir, "acme")
		outside := filepath.Join(root, "secret.csv")
		for _, p := range []string{dir, own, filepath.Join(own, "sub"), filepath.Join(dir, "beta")} {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{outside, filepath.Join(own, "sub", "ok.csv"), filepath.Join(dir, "top.csv"), filepath.Join(dir, "beta", "theirs.csv")} {
			if err := os.WriteFile(p, []byte("a@x.example,BOUNCE\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for link, target := range map[string]string{
			"link.csv":   outside,
			"inside.csv": filepath.Join(own, "sub", "ok.csv"),
			"beta.csv":   filepath.Join(dir, "beta", "theirs.csv"),
			"top.csv":    filepath.Join(dir, "top.csv"),
		} {
			if err := os.Symlink(target, filepath.Join(own, link)); err != nil {
				t.Fatal(err)
			}
		}
		if err := syscall.Mkfifo(filepath.Join(own, "fifo.csv"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newService(t, db, dir, "n1", nil)
		refused := func(url string) string {
			return url + " is not a regular file under this account's import directory " + own + "/ (an account may import only the files the operator put there)."
		}
		for _, tc := range []struct{ url, err string }{
			{"file://" + filepath.Join(own, "sub", "ok.csv"), ""},
			{"file://localhost" + filepath.Join(own, "sub", "ok.csv"), ""},
			{"file://" + filepath.Join(own, "inside.csv"), ""},
			{"file://" + outside, refused("file://" + outside)},
			{"file://" + own + "/../../secret.csv", refused("file://" + own + "/../../secret.csv")},
			{"file://" + filepath.Join(dir, "top.csv"), refused("file://" + filepath.Join(dir, "top.csv"))},
			{"file://" + filepath.Join(dir, "nosuch.csv"), refused("file://" + filepath.Join(dir, "nosuch.csv"))},
			{"file://" + filepath.Join(dir, "beta", "theirs.csv"), refused("file://" + filepath.Join(dir, "beta", "theirs.csv"))},
			{"file://" + filepath.Join(dir, "beta", "nosuch.csv"), refused("file://" + filepath.Join(dir, "beta", "nosuch.csv"))},
			{"file://" + own + "/../beta/theirs.csv", refused("file://" + own + "/../beta/theirs.csv")},
			{"file://" + filepath.Join(own, "beta.csv"), refused("file://" + filepath.Join(own, "beta.csv"))},
			{"file://" + filepath.Join(own, "top.csv"), refused("file://" + filepath.Join(own, "top.csv"))},
			{"file://" + filepath.Join(own, "link.csv"), refused("file://" + filepath.Join(own, "link.csv"))},
			{"file://" + filepath.Join(own, "fifo.csv"), refused("file://" + filepath.Join(own, "fifo.csv"))},
			{"file://" + filepath.Join(own, "sub"), refused("file://" + filepath.Join(own, "sub"))},
			{"file://" + own, refused("file://" + own)},
			{"file://" + filepath.Join(own, "missing.csv"), refused("file://" + filepath.Join(own, "missing.csv"))},
			{"file://other.host" + filepath.Join(own, "sub", "ok.csv"), "not a file:///absolute/path URL"},
			{"file:relative.csv", "not a petrel-upload:// or file:// URL"},
			{"s3://bucket/list.csv", "S3 is not available in Petrel: upload the file with PUT /v2/email/import-data/{Name}"},
			{"S3://bucket/list.csv", "or have the operator put it in the account's import directory"},
			{"https://example.com/list.csv", "not a petrel-upload:// or file:// URL"},
			{"petrel-upload://nosuch", "No upload petrel-upload://nosuch"},
		} {
			_, err := s.Create(ctx, "acme", Put, tc.url, CSV)
			if tc.err == "" && err != nil || tc.err != "" && !isInput(err, tc.err) {
				t.Errorf("%s: %v, want %q", tc.url, err, tc.err)
			}
		}
		// beta reads its own file; an account without a directory reads
		// none.
		if _, err := s.Create(ctx, "beta", Put, "file://"+filepath.Join(dir, "beta", "theirs.csv"), CSV); err != nil {
			t.Errorf("beta's own file: %v", err)
		}
		if _, err := s.Create(ctx, "gamma", Put, "file://"+filepath.Join(own, "sub", "ok.csv"), CSV); !isInput(err, "import directory "+filepath.Join(dir, "gamma")+"/") {
			t.Errorf("gamma, without a directory, reading acme's file: %v", err)
		}
		// A file swapped for a symlink out after the job was created is
		// refused when the job runs: the job fails, nothing imported.
		swap := filepath.Join(own, "swap.csv")
		if err := os.WriteFile(swap, []byte("a@x.example,BOUNCE\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := s.Create(ctx, "acme", Put, "file://"+swap, CSV)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(swap)
		if err := os.Symlink(outside, swap); err != nil {
			t.Fatal(err)
		}
		run(t, s)
		j = wait(t, s, "acme", j.ID)
		if j.Status != Failed || j.ErrorMessage != refused("file://"+swap) {
			t.Errorf("swapped file: %+v", j)
		}

		off := newService(t, db, "", "n2", nil)
		if _, err := off.Create(ctx, "acme", Put, "file://"+filepath.Join(own, "sub", "ok.csv"), CSV); !isInput(err, "--import-dir") {
			t.Errorf("file:// without an import dir: %v", err)
		}
		if _, err := New(db, suppression.New(db, nil), Config{ImportDir: outside}, slog.New(slog.DiscardHandler)); err == nil {
			t.Error("an import dir that is a file was accepted")
		}
	})
}

// An import puts the good records, counts and keeps the bad ones with
// their lines, and a DELETE import removes what it names.
func TestImport(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		list := suppression.New(db, nil)
		data := "emailAddress,reason\na@x.example,BOUNCE\nB@X.example,COMPLAINT\nnope,BOUNCE\nc@x.example,SPAM\nd@x.example,COMPLAINT\n"
		up, err := s.Upload(ctx, "acme", "list.csv", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		var seen []Job
		j, err := s.Import(ctx, "acme", Put, up.URL(), CSV, func(j Job) { seen = append(seen, j) })
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != Completed || j.Processed != 3 || j.Failed != 2 || len(seen) != 1 {
			t.Fatalf("job %+v, progress %+v", j, seen)
		}
		got, err := s.Get(ctx, "acme", j.ID)
		if err != nil || got.Status != Completed || got.Processed != 3 || got.Failed != 2 || got.Completed.IsZero() {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		fails, err := s.FailedRecords(ctx, "acme", j.ID)
		if err != nil || len(fails) != 2 || fails[0].Line != 4 || fails[0].Record != "nope,BOUNCE" || fails[1].Line != 5 || !strings.Contains(fails[1].Error, "SPAM") {
			t.Fatalf("failed records %+v, %v", fails, err)
		}
		for addr, reason := range map[string]suppression.Reason{"a@x.example": suppression.Bounce, "b@x.example": suppression.Complaint, "d@x.example": suppression.Complaint} {
			e, err := list.Get(ctx, "acme", must(address.Parse(addr)))
			if err != nil || e.Reason != reason || e.Cause != "import job "+j.ID {
				t.Errorf("%s: %+v, %v", addr, e, err)
			}
		}
		if _, err := list.Get(ctx, "other", must(address.Parse("a@x.example"))); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("another account's list: %v", err)
		}
		// Another account can neither see the job nor import the upload.
		if _, err := s.Get(ctx, "other", j.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("other account's Get: %v", err)
		}
		if _, err := s.FailedRecords(ctx, "other", j.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("other account's FailedRecords: %v", err)
		}
		if _, err := s.Create(ctx, "other", Put, up.URL(), CSV); !isInput(err, "No upload") {
			t.Errorf("other account's upload: %v", err)
		}

		del, err := s.Upload(ctx, "acme", "del.json", []byte(`{"emailAddress":"a@x.example"}`+"\n"+`{"emailAddress":"zz@x.example"}`+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		j, err = s.Import(ctx, "acme", Delete, del.URL(), JSON, nil)
		if err != nil || j.Status != Completed || j.Processed != 2 || j.Failed != 0 {
			t.Fatalf("DELETE: %+v, %v", j, err)
		}
		if _, err := list.Get(ctx, "acme", must(address.Parse("a@x.example"))); !errors.Is(err, suppression.ErrNotFound) {
			t.Errorf("a@x.example after DELETE: %v", err)
		}
		if _, err := list.Get(ctx, "acme", must(address.Parse("b@x.example"))); err != nil {
			t.Errorf("b@x.example after DELETE of others: %v", err)
		}
		if fails, err := s.FailedRecords(ctx, "acme", j.ID); err != nil || len(fails) != 0 {
			t.Errorf("DELETE's failed records: %+v, %v", fails, err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// csvRows returns n rows "uI@x.example,BOUNCE".
func csvRows(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "u%d@x.example,BOUNCE\n", i)
	}
	return b.Bytes()
}

// SES's limits: a file over them fails whole, nothing imported; at the
// limit it is imported. Bad records count towards the limit.
func TestLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		list := suppression.New(db, nil)
		for _, tc := range []struct {
			action Action
			data   []byte
			status Status
			n      int
		}{
			{Put, append(csvRows(MaxPutRecords), "bad\n"...), Failed, 0},
			{Delete, csvRows(MaxDeleteRecords + 1), Failed, 0},
			{Delete, csvRows(MaxDeleteRecords), Completed, MaxDeleteRecords},
		} {
			up, err := s.Upload(ctx, "acme", "big.csv", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			j, err := s.Import(ctx, "acme", tc.action, up.URL(), CSV, nil)
			if err != nil || j.Status != tc.status || j.Processed != tc.n {
				t.Fatalf("%s of %d bytes: %+v, %v", tc.action, len(tc.data), j, err)
			}
			if tc.status == Failed && !strings.Contains(j.ErrorMessage, "Nothing was imported") {
				t.Errorf("ErrorMessage %q", j.ErrorMessage)
			}
			page, _, err := list.ListPage(ctx, "acme", suppression.Filter{PageSize: 10})
			if err != nil || len(page) != 0 {
				t.Fatalf("the list after a refused import: %d entries, %v", len(page), err)
			}
		}
		if _, err := s.Upload(ctx, "acme", "huge.csv", make([]byte, MaxData+1)); !isInput(err, "larger than") {
			t.Errorf("upload over MaxData: %v", err)
		}
		if _, err := s.Upload(ctx, "acme", "../x", []byte("a")); !isInput(err, "may contain only") {
			t.Errorf("upload name with a slash: %v", err)
		}
	})
}

// Several runners over one store run each job once; a job left
// PROCESSING by a runner that died is taken over when its lease runs out,
// and at once by the same owner restarting.
func TestRunners(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		creator := newService(t, db, "", "creator", nil)
		var ids []string
		accounts := []string{"acme", "beta"}
		for i := range 12 {
			up, err := creator.Upload(ctx, accounts[i%2], "l.csv", csvRows(1500+i))
			if err != nil {
				t.Fatal(err)
			}
			j, err := creator.Create(ctx, accounts[i%2], Put, up.URL(), CSV)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		for _, owner := range []string{"n1", "n2", "n3"} {
			run(t, newService(t, db, "", owner, log))
		}
		for i, id := range ids {
			if j := wait(t, creator, accounts[i%2], id); j.Status != Completed || j.Processed != 1500+i {
				t.Errorf("job %d: %+v", i, j)
			}
			if n := strings.Count(logs.String(), "msg=\"import job started\" job_id="+id); n != 1 {
				t.Errorf("job %d started %d times", i, n)
			}
		}

		// A crashed runner's job: its lease ran out.
		up, err := creator.Upload(ctx, "acme", "l.csv", csvRows(10))
		if err != nil {
			t.Fatal(err)
		}
		stale, err := creator.create(ctx, "acme", "", Put, up.URL(), CSV, "dead-node")
		if err != nil {
			t.Fatal(err)
		}
		own, err := creator.create(ctx, "acme", "", Put, up.URL(), CSV, "n4")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, db.Rebind("UPDATE import_jobs SET lease_until_ms = ?, processed = 5 WHERE id = ?"), time.Now().Add(-time.Second).UnixMilli(), stale.ID); err != nil {
			t.Fatal(err)
		}
		if j := wait(t, creator, "acme", stale.ID); j.Status != Completed || j.Processed != 10 {
			t.Errorf("job of a dead node: %+v", j)
		}
		// Its own job, lease still running: n4 restarting takes it at once.
		if j, _ := creator.Get(ctx, "acme", own.ID); j.Status != Processing {
			t.Fatalf("n4's job before n4 starts: %+v", j)
		}
		run(t, newService(t, db, "", "n4", log))
		if j := wait(t, creator, "acme", own.ID); j.Status != Completed || j.Processed != 10 {
			t.Errorf("n4's job after its restart: %+v", j)
		}
	})
}

// syncBuffer is a bytes.Buffer several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ListImportJobs' order and pages, per account.
func TestList(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		up, err := s.Upload(ctx, "acme", "l.csv", csvRows(1))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for range 7 {
			j, err := s.Create(ctx, "acme", Put, up.URL(), CSV)
			if err != nil {
				t.Fatal(err)
			}
			want = append([]string{j.ID}, want...)
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			page, next, err := s.List(ctx, "acme", AnyDestination, token, 3)
			if err != nil || pages > 3 {
				t.Fatalf("page %d: %v", pages, err)
			}
			for _, j := range page {
				got = append(got, j.ID)
			}
			if token = next; token == "" {
				break
			}
		}
		if len(got) != 7 {
			t.Fatalf("listed %d jobs, want 7", len(got))
		}
		// Same millisecond: by id, newest first otherwise.
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		for _, id := range want {
			if !seen[id] {
				t.Errorf("job %s not listed", id)
			}
		}
		if page, _, err := s.List(ctx, "other", AnyDestination, "", 10); err != nil || len(page) != 0 {
			t.Errorf("other account lists %d jobs, %v", len(page), err)
		}
		if _, _, err := s.List(ctx, "acme", AnyDestination, "bogus", 10); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("bogus token: %v", err)
		}
	})
}

// BenchmarkImport100k: a 100,000-row CSV upload imported end to end by
// the runner (CreateImportJob, the runner parses and writes it, poll until
// COMPLETED) on SQLite, each into a fresh account's list (all inserts).
// Reports seconds per import; the upload is not timed.
func BenchmarkImport100k(b *testing.B) {
	ctx := context.Background()
	db := store.OpenTest(b, "sqlite")
	s := newService(b, db, "", "bench", nil)
	run(b, s)
	data := csvRows(MaxPutRecords)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		account := fmt.Sprintf("acct%d", i)
		up, err := s.Upload(ctx, account, "100k.csv", data)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		j, err := s.Create(ctx, account, Put, up.URL(), CSV)
		if err != nil {
			b.Fatal(err)
		}
		if j = wait(b, s, account, j.ID); j.Status != Completed || j.Processed != MaxPutRecords {
			b.Fatalf("%+v", j)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/import")
}

// Uploads older than UploadTTL are pruned; a job created after that
// cannot name them.
func TestPruneUploads(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		old, err := s.Upload(ctx, "acme", "old.csv", csvRows(1))
		if err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return time.Now().Add(UploadTTL / 2) }
		fresh, err := s.Upload(ctx, "acme", "fresh.csv", csvRows(1))
		if err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return time.Now().Add(UploadTTL + time.Minute) }
		if err := s.prune(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "acme", Put, old.URL(), CSV); !isInput(err, "No upload") {
			t.Errorf("pruned upload: %v", err)
		}
		if _, err := s.Create(ctx, "acme", Put, fresh.URL(), CSV); err != nil {
			t.Errorf("fresh upload: %v", err)
		}
	})
}

// The runner takes accounts in turn: an account with a job running, or
// served more recently, waits for the accounts that have none, whatever
// the order the jobs were created in; within an account, oldest first.
// Two runners on one store claim different jobs.
func TestClaimFairAcrossAccounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		tick := time.Now()
		s.now = func() time.Time { tick = tick.Add(time.Millisecond); return tick } // jobs created in order
		up := func(account string) string {
			u, err := s.Upload(ctx, account, "l.csv", csvRows(1))
			if err != nil {
				t.Fatal(err)
			}
			return u.URL()
		}
		hogURL, victimURL, thirdURL := up("hog"), up("victim"), up("third")
		var hog []string
		for range 5 {
			hog = append(hog, must(s.Create(ctx, "hog", Put, hogURL, CSV)).ID)
		}
		victim := must(s.Create(ctx, "victim", Put, victimURL, CSV)).ID
		third := must(s.Create(ctx, "third", Put, thirdURL, CSV)).ID
		// claim claims the next job as a runner of its own (a runner
		// reclaims its own PROCESSING jobs: they are left from before a
		// restart), and returns it and that runner.
		claim := func(want string) (Job, *Service) {
			t.Helper()
			r := newService(t, db, "", "r-"+randomHex(4), nil)
			j, ok, err := r.claimNext(ctx)
			if err != nil || !ok || j.ID != want {
				t.Fatalf("claimed %s %s (%v, %v), want %s", j.Account, j.ID, ok, err, want)
			}
			return j, r
		}
		finish := func(j Job, r *Service) {
			t.Helper()
			if _, err := r.finish(ctx, j, r.cfg.Owner, Completed, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		// hog's first job: no account has been served yet, it is oldest.
		h0, r0 := claim(hog[0])
		// hog has a job running: other runners take victim's, then
		// third's, though hog's are older.
		v, rv := claim(victim)
		claim(third)
		// Nothing running for hog or victim (third's still runs): the
		// account served longest ago, hog, whose job finished first.
		finish(h0, r0)
		victim2 := must(s.Create(ctx, "victim", Put, victimURL, CSV)).ID
		rv.now = func() time.Time { return time.Now().Add(time.Second) }
		finish(v, rv)
		h1, r1 := claim(hog[1])
		// hog runs again: victim's next.
		claim(victim2)
		finish(h1, r1)
		claim(hog[2])
	})
}

// An account may have MaxUnfinishedJobs jobs CREATED or PROCESSING; past
// that CreateImportJob is *LimitError, even when many are created at once
// through several nodes; other accounts are not affected, and a finished
// job makes room.
func TestUnfinishedJobsLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		nodes := []*Service{newService(t, db, "", "n1", nil), newService(t, db, "", "n2", nil), newService(t, db, "", "n3", nil)}
		u := must(nodes[0].Upload(ctx, "acme", "l.csv", csvRows(1)))
		var (
			wg           sync.WaitGroup
			mu           sync.Mutex
			made, limits int
			others       []error
		)
		for i := range 3 * MaxUnfinishedJobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := nodes[i%len(nodes)].Create(ctx, "acme", Put, u.URL(), CSV)
				var lim *LimitError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					made++
				case errors.As(err, &lim) && strings.Contains(lim.Msg, fmt.Sprintf("already has %d import jobs", MaxUnfinishedJobs)):
					limits++
				default:
					others = append(others, err)
				}
			}()
		}
		wg.Wait()
		if made != MaxUnfinishedJobs || limits != 2*MaxUnfinishedJobs || len(others) > 0 {
			t.Fatalf("%d created, %d refused with LimitError, other errors %v; want %d and %d", made, limits, others, MaxUnfinishedJobs, 2*MaxUnfinishedJobs)
		}
		other := must(nodes[0].Upload(ctx, "beta", "l.csv", csvRows(1)))
		if _, err := nodes[0].Create(ctx, "beta", Put, other.URL(), CSV); err != nil {
			t.Errorf("another account: %v", err)
		}
		var lim *LimitError
		if _, err := nodes[0].Import(ctx, "acme", Put, u.URL(), CSV, nil); !errors.As(err, &lim) {
			t.Errorf("Import past the limit: %v", err)
		}
		j, ok, err := nodes[0].claimNext(ctx)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, err := nodes[0].run(ctx, j, "n1", nil); err != nil {
			t.Fatal(err)
		}
		if j.Account != "acme" {
			t.Fatalf("claimed %s's job first", j.Account)
		}
		if _, err := nodes[0].Create(ctx, "acme", Put, u.URL(), CSV); err != nil {
			t.Errorf("after one job finished: %v", err)
		}
	})
}

// An account's uploads younger than UploadTTL may take MaxUploadBytes;
// an upload past that is *LimitError, saying the quota; another account
// is not affected; expired uploads do not count.
func TestUploadQuota(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := newService(t, db, "", "n1", nil)
		// A stored upload of (nearly) the whole quota, its data shortened.
		if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO import_uploads (id, account, name, size, created_ms, data) VALUES (?, ?, ?, ?, ?, ?)"),
			"big", "acme", "big.csv", MaxUploadBytes-100, time.Now().UnixMilli(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upload(ctx, "acme", "fits.csv", make([]byte, 100)); err != nil {
			t.Fatalf("an upload to the quota exactly: %v", err)
		}
		var lim *LimitError
		_, err := s.Upload(ctx, "acme", "over.csv", []byte("a"))
		if !errors.As(err, &lim) || !strings.Contains(lim.Msg, fmt.Sprintf("quota of %d bytes (256 MiB)", MaxUploadBytes)) {
			t.Errorf("an upload past the quota: %v", err)
		}
		if _, err := s.Upload(ctx, "beta", "l.csv", []byte("a")); err != nil {
			t.Errorf("another account: %v", err)
		}
		s.now = func() time.Time { return time.Now().Add(UploadTTL + time.Minute) }
		if _, err := s.Upload(ctx, "acme", "later.csv", []byte("a")); err != nil {
			t.Errorf("after the old uploads expired: %v", err)
		}
		rows, bytes, err := UploadUsage(ctx, db)
		if err != nil || rows != 4 || bytes != MaxUploadBytes+2 {
			t.Errorf("UploadUsage: %d rows, %d bytes, %v; want 4, %d", rows, bytes, err, MaxUploadBytes+2)
		}
	})
}
