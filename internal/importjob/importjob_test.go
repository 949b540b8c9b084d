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

// File sources: only regular files under the import directory, after
// symbolic links are resolved; none at all without one; s3:// is refused
// naming the two alternatives.
func TestSources(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		root := t.TempDir()
		dir := filepath.Join(root, "imports")
		outside := filepath.Join(root, "secret.csv")
		for _, p := range []string{dir, filepath.Join(dir, "sub")} {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{outside, filepath.Join(dir, "sub", "ok.csv")} {
			if err := os.WriteFile(p, []byte("a@x.example,BOUNCE\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(outside, filepath.Join(dir, "link.csv")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, "sub", "ok.csv"), filepath.Join(dir, "inside.csv")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo.csv"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := newService(t, db, dir, "n1", nil)
		for _, tc := range []struct{ url, err string }{
			{"file://" + filepath.Join(dir, "sub", "ok.csv"), ""},
			{"file://localhost" + filepath.Join(dir, "sub", "ok.csv"), ""},
			{"file://" + filepath.Join(dir, "inside.csv"), ""},
			{"file://" + outside, "not a regular file under the import directory"},
			{"file://" + dir + "/../secret.csv", "not a regular file under the import directory"},
			{"file://" + filepath.Join(dir, "link.csv"), "not a regular file under the import directory"},
			{"file://" + filepath.Join(dir, "fifo.csv"), "not a regular file under the import directory"},
			{"file://" + filepath.Join(dir, "sub"), "not a regular file under the import directory"},
			{"file://" + filepath.Join(dir, "missing.csv"), "not a regular file under the import directory"},
			{"file://other.host" + filepath.Join(dir, "sub", "ok.csv"), "not a file:///absolute/path URL"},
			{"file:relative.csv", "not a petrel-upload:// or file:// URL"},
			{"s3://bucket/list.csv", "S3 is not available in Petrel: upload the file with PUT /v2/email/import-data/{Name}"},
			{"S3://bucket/list.csv", "or put it in the operator's import directory"},
			{"https://example.com/list.csv", "not a petrel-upload:// or file:// URL"},
			{"petrel-upload://nosuch", "No upload petrel-upload://nosuch"},
		} {
			_, err := s.Create(ctx, "acme", Put, tc.url, CSV)
			if tc.err == "" && err != nil || tc.err != "" && !isInput(err, tc.err) {
				t.Errorf("%s: %v, want %q", tc.url, err, tc.err)
			}
		}
		// A file swapped for a symlink out after the job was created is
		// refused when the job runs: the job fails, nothing imported.
		swap := filepath.Join(dir, "swap.csv")
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
		if j.Status != Failed || !strings.Contains(j.ErrorMessage, "not a regular file under the import directory") {
			t.Errorf("swapped file: %+v", j)
		}

		off := newService(t, db, "", "n2", nil)
		if _, err := off.Create(ctx, "acme", Put, "file://"+filepath.Join(dir, "sub", "ok.csv"), CSV); !isInput(err, "--import-dir") {
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
		for i := range 12 {
			up, err := creator.Upload(ctx, "acme", "l.csv", csvRows(1500+i))
			if err != nil {
				t.Fatal(err)
			}
			j, err := creator.Create(ctx, "acme", Put, up.URL(), CSV)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		for _, owner := range []string{"n1", "n2", "n3"} {
			run(t, newService(t, db, "", owner, log))
		}
		for i, id := range ids {
			if j := wait(t, creator, "acme", id); j.Status != Completed || j.Processed != 1500+i {
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
		stale, err := creator.create(ctx, "acme", Put, up.URL(), CSV, "dead-node")
		if err != nil {
			t.Fatal(err)
		}
		own, err := creator.create(ctx, "acme", Put, up.URL(), CSV, "n4")
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
			page, next, err := s.List(ctx, "acme", token, 3)
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
		if page, _, err := s.List(ctx, "other", "", 10); err != nil || len(page) != 0 {
			t.Errorf("other account lists %d jobs, %v", len(page), err)
		}
		if _, _, err := s.List(ctx, "acme", "bogus", 10); !errors.Is(err, ErrInvalidToken) {
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
