package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/importjob"
	"github.com/petrelmail/petrel/internal/store"
	"github.com/petrelmail/petrel/internal/suppression"
)

// signedDo sends a request signed as the AWS SDKs sign (SigV4, service
// ses) and returns the status, headers and body.
func signedDo(t *testing.T, srv *httptest.Server, ten tenant, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := v4.NewSigner().SignHTTP(t.Context(), ten.creds, req, sha256Hex(body), "ses", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// upload stores data with PUT /v2/email/import-data/{name} and returns its
// URL.
func upload(t *testing.T, srv *httptest.Server, ten tenant, name string, data []byte) string {
	t.Helper()
	status, _, body := signedDo(t, srv, ten, "PUT", "/v2/email/import-data/"+name, data)
	var out uploadImportDataOutput
	if status != 200 || json.Unmarshal(body, &out) != nil || !strings.HasPrefix(out.S3Url, "petrel-upload://") || out.Size != int64(len(data)) || out.Name != name {
		t.Fatalf("upload: %d %s", status, body)
	}
	return out.S3Url
}

func createJob(ctx context.Context, ses *sesv2.Client, action types.SuppressionListImportAction, url string, format types.DataFormat) (string, error) {
	out, err := ses.CreateImportJob(ctx, &sesv2.CreateImportJobInput{
		ImportDestination: &types.ImportDestination{SuppressionListDestination: &types.SuppressionListDestination{SuppressionListImportAction: action}},
		ImportDataSource:  &types.ImportDataSource{S3Url: aws.String(url), DataFormat: format},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.JobId), nil
}

// waitJob polls GetImportJob until the job is COMPLETED or FAILED.
func waitJob(t *testing.T, ses *sesv2.Client, id string) *sesv2.GetImportJobOutput {
	t.Helper()
	// A liveness bound, not a speed one: under the race detector on a
	// loaded machine one of a fair runner's 20,000-row turns took over 30 s.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, err := ses.GetImportJob(t.Context(), &sesv2.GetImportJobInput{JobId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		switch out.JobStatus {
		case types.JobStatusCompleted, types.JobStatusFailed:
			return out
		case types.JobStatusCreated, types.JobStatusProcessing:
		default:
			t.Fatalf("JobStatus %q", out.JobStatus)
		}
	}
	t.Fatalf("job %s did not finish", id)
	return nil
}

func apiCode(err error) (string, string) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", fmt.Sprint(err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

// TestImportJobEndToEnd: upload → CreateImportJob → GetImportJob until
// COMPLETED, with counts; the entries are on the account's list; the bad
// rows are served at FailureInfo.FailedRecordsS3Url; a DELETE job from a
// JSON upload removes what it names.
func TestImportJobEndToEnd(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, db := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			acme := tenants["acme"]
			ses := sesClient(srv.URL, acme, 1)
			list := suppression.New(db, nil)
			data := "emailAddress,reason\r\na@x.example,BOUNCE\r\nb@x.example, COMPLAINT\r\nbroken,BOUNCE\r\nc@x.example,SOFT\r\n\"d@x.example\",\"BOUNCE\"\r\n"
			url := upload(t, srv, acme, "list.csv", []byte(data))
			start := time.Now().Add(-time.Second)
			id, err := createJob(ctx, ses, types.SuppressionListImportActionPut, url, types.DataFormatCsv)
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != 36 || strings.Count(id, "-") != 4 {
				t.Errorf("JobId %q is not a UUID", id)
			}
			out := waitJob(t, ses, id)
			if out.JobStatus != types.JobStatusCompleted || aws.ToInt32(out.ProcessedRecordsCount) != 3 || aws.ToInt32(out.FailedRecordsCount) != 2 {
				t.Fatalf("job: %s processed %d failed %d", out.JobStatus, aws.ToInt32(out.ProcessedRecordsCount), aws.ToInt32(out.FailedRecordsCount))
			}
			if aws.ToString(out.JobId) != id || out.CreatedTimestamp == nil || out.CreatedTimestamp.Before(start) || out.CompletedTimestamp == nil ||
				out.CompletedTimestamp.Before(*out.CreatedTimestamp) || out.ImportDataSource == nil || aws.ToString(out.ImportDataSource.S3Url) != url ||
				out.ImportDataSource.DataFormat != types.DataFormatCsv || out.ImportDestination == nil || out.ImportDestination.SuppressionListDestination == nil ||
				out.ImportDestination.SuppressionListDestination.SuppressionListImportAction != types.SuppressionListImportActionPut {
				t.Errorf("GetImportJob: %+v", out)
			}
			if out.FailureInfo == nil || aws.ToString(out.FailureInfo.ErrorMessage) != "" {
				t.Fatalf("FailureInfo: %+v", out.FailureInfo)
			}
			failedURL := aws.ToString(out.FailureInfo.FailedRecordsS3Url)
			path, ok := strings.CutPrefix(failedURL, srv.URL)
			if !ok {
				t.Fatalf("FailedRecordsS3Url %q is not on the server %s", failedURL, srv.URL)
			}
			status, h, body := signedDo(t, srv, acme, "GET", path, nil)
			want := "LineNumber,Record,Error\n4,\"broken,BOUNCE\","
			if status != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(string(body), want) || !strings.Contains(string(body), "\n5,\"c@x.example,SOFT\",") {
				t.Errorf("failed records: %d %s\n%s", status, h.Get("Content-Type"), body)
			}
			if status, _, body := signedDo(t, srv, tenants["other"], "GET", path, nil); status != 404 {
				t.Errorf("another account's failed records: %d %s", status, body)
			}
			for addr, reason := range map[string]suppression.Reason{"a@x.example": suppression.Bounce, "b@x.example": suppression.Complaint, "d@x.example": suppression.Bounce} {
				if e, err := list.Get(ctx, "acme", mustAddr(t, addr)); err != nil || e.Reason != reason {
					t.Errorf("%s on the list: %+v, %v", addr, e, err)
				}
			}

			del := upload(t, srv, acme, "del.json", []byte(`{"emailAddress":"a@x.example"}`+"\n"+`{"emailAddress":"d@x.example","reason":"BOUNCE"}`+"\n"))
			id, err = createJob(ctx, ses, types.SuppressionListImportActionDelete, del, types.DataFormatJson)
			if err != nil {
				t.Fatal(err)
			}
			out = waitJob(t, ses, id)
			if out.JobStatus != types.JobStatusCompleted || aws.ToInt32(out.ProcessedRecordsCount) != 2 || aws.ToInt32(out.FailedRecordsCount) != 0 || out.FailureInfo != nil {
				t.Fatalf("DELETE job: %+v", out)
			}
			for addr, on := range map[string]bool{"a@x.example": false, "b@x.example": true, "d@x.example": false} {
				if _, err := list.Get(ctx, "acme", mustAddr(t, addr)); (err == nil) != on {
					t.Errorf("%s after DELETE: %v, want on the list %v", addr, err, on)
				}
			}
		})
	}
}

// TestImportJobSources: file:// under the account's own subdirectory of
// the import directory is read; elsewhere (the directory itself, another
// account's, outside), s3://, contact lists and bad enums are BadRequestException;
// an account cannot import another's upload; a file over SES's DELETE
// limit fails the job with the reason.
func TestImportJobSources(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, db := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			for _, acct := range []string{"acme", "other"} {
				if err := os.Mkdir(filepath.Join(s.ImportJobs.ImportDir(), acct), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			inDir := filepath.Join(s.ImportJobs.ImportDir(), "acme", "list.csv")
			if err := os.WriteFile(inDir, []byte("f@x.example,COMPLAINT\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			top := filepath.Join(s.ImportJobs.ImportDir(), "operator.csv")
			if err := os.WriteFile(top, []byte("g@x.example,COMPLAINT\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(t.TempDir(), "list.csv")
			if err := os.WriteFile(outside, []byte("g@x.example,COMPLAINT\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			id, err := createJob(ctx, ses, types.SuppressionListImportActionPut, "file://"+inDir, types.DataFormatCsv)
			if err != nil {
				t.Fatal(err)
			}
			if out := waitJob(t, ses, id); out.JobStatus != types.JobStatusCompleted || aws.ToInt32(out.ProcessedRecordsCount) != 1 {
				t.Fatalf("file:// job: %+v", out)
			}
			if _, err := suppression.New(db, nil).Get(ctx, "acme", mustAddr(t, "f@x.example")); err != nil {
				t.Errorf("f@x.example from file://: %v", err)
			}
			acmeUpload := upload(t, srv, tenants["acme"], "l.csv", []byte("h@x.example,BOUNCE\n"))
			if status, h, body := signedDo(t, srv, tenants["acme"], "PUT", "/v2/email/import-data/x:y", []byte("a@x.example,BOUNCE\n")); status != 400 ||
				h.Get("x-amzn-ErrorType") != "BadRequestException" || !strings.Contains(string(body), "may contain only") {
				t.Errorf("upload name x:y: %d %s %s", status, h.Get("x-amzn-ErrorType"), body)
			}
			if status, h, _ := signedDo(t, srv, tenants["acme"], "GET", "/v2/email/import-jobs/nosuch/failed-records", nil); status != 404 || h.Get("x-amzn-ErrorType") != "NotFoundException" {
				t.Errorf("failed records of no job: %d %s", status, h.Get("x-amzn-ErrorType"))
			}
			for _, tc := range []struct {
				url, format, action, want string
			}{
				{"file://" + outside, "CSV", "PUT", "not a regular file under this account's import directory"},
				{"file://" + top, "CSV", "PUT", "not a regular file under this account's import directory"},
				{"s3://bucket/list.csv", "CSV", "PUT", "S3 is not available in Petrel"},
				{acmeUpload, "XML", "PUT", "DataFormat"},
				{acmeUpload, "CSV", "MERGE", "SuppressionListImportAction"},
			} {
				_, err := createJob(ctx, ses, types.SuppressionListImportAction(tc.action), tc.url, types.DataFormat(tc.format))
				if code, msg := apiCode(err); code != "BadRequestException" || !strings.Contains(msg, tc.want) {
					t.Errorf("%s %s %s: %s %q, want BadRequestException %q", tc.url, tc.format, tc.action, code, msg, tc.want)
				}
			}
			// Another account can neither import acme's file nor tell it
			// from a file that does not exist.
			otherSES := sesClient(srv.URL, tenants["other"], 1)
			_, err = createJob(ctx, otherSES, types.SuppressionListImportActionPut, "file://"+inDir, types.DataFormatCsv)
			code, msg := apiCode(err)
			_, err = createJob(ctx, otherSES, types.SuppressionListImportActionPut, "file://"+inDir+".missing", types.DataFormatCsv)
			code2, msg2 := apiCode(err)
			if code != "BadRequestException" || code2 != code || strings.Replace(msg2, ".missing", "", 1) != msg {
				t.Errorf("another account's file: %s %q; a missing file: %s %q; want the same BadRequestException", code, msg, code2, msg2)
			}
			_, err = createJob(ctx, otherSES, types.SuppressionListImportActionPut, acmeUpload, types.DataFormatCsv)
			if code, msg := apiCode(err); code != "BadRequestException" || !strings.Contains(msg, "No upload") {
				t.Errorf("another account's upload: %s %q", code, msg)
			}
			_, err = ses.CreateImportJob(ctx, &sesv2.CreateImportJobInput{
				ImportDestination: &types.ImportDestination{ContactListDestination: &types.ContactListDestination{
					ContactListName: aws.String("news"), ContactListImportAction: types.ContactListImportActionPut}},
				ImportDataSource: &types.ImportDataSource{S3Url: aws.String(acmeUpload), DataFormat: types.DataFormatCsv},
			})
			if code, msg := apiCode(err); code != "BadRequestException" || msg != "Contact list news does not exist." {
				t.Errorf("a contact list the account does not have: %s %q", code, msg)
			}

			var big bytes.Buffer
			for i := range 10_001 {
				fmt.Fprintf(&big, "u%d@x.example\n", i)
			}
			id, err = createJob(ctx, ses, types.SuppressionListImportActionDelete, upload(t, srv, tenants["acme"], "big.csv", big.Bytes()), types.DataFormatCsv)
			if err != nil {
				t.Fatal(err)
			}
			out := waitJob(t, ses, id)
			if out.JobStatus != types.JobStatusFailed || out.FailureInfo == nil || !strings.Contains(aws.ToString(out.FailureInfo.ErrorMessage), "more than 10000 records") ||
				aws.ToInt32(out.ProcessedRecordsCount) != 0 || out.CompletedTimestamp == nil {
				t.Errorf("over the DELETE limit: %+v %+v", out, out.FailureInfo)
			}
		})
	}
}

// TestListImportJobs: newest first, in pages; each account sees its own
// jobs only, and GetImportJob of another's is NotFoundException.
func TestListImportJobs(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			other := sesClient(srv.URL, tenants["other"], 1)
			url := upload(t, srv, tenants["acme"], "l.csv", []byte("a@x.example,BOUNCE\n"))
			ids := map[string]bool{}
			for range 5 {
				id, err := createJob(ctx, ses, types.SuppressionListImportActionPut, url, types.DataFormatCsv)
				if err != nil {
					t.Fatal(err)
				}
				ids[id] = true
				time.Sleep(2 * time.Millisecond) // distinct CreatedTimestamps, for the order
			}
			otherID, err := createJob(ctx, other, types.SuppressionListImportActionPut, upload(t, srv, tenants["other"], "o.csv", []byte("o@x.example,BOUNCE\n")), types.DataFormatCsv)
			if err != nil {
				t.Fatal(err)
			}
			var got []types.ImportJobSummary
			in := &sesv2.ListImportJobsInput{ImportDestinationType: types.ImportDestinationTypeSuppressionList, PageSize: aws.Int32(2)}
			for pages := 1; ; pages++ {
				out, err := ses.ListImportJobs(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if len(out.ImportJobs) > 2 || pages > 3 {
					t.Fatalf("page %d: %d jobs", pages, len(out.ImportJobs))
				}
				got = append(got, out.ImportJobs...)
				if out.NextToken == nil {
					break
				}
				in.NextToken = out.NextToken
			}
			if len(got) != 5 {
				t.Fatalf("listed %d jobs, want 5", len(got))
			}
			for i, j := range got {
				if !ids[aws.ToString(j.JobId)] || j.CreatedTimestamp == nil || j.ImportDestination == nil || j.ImportDestination.SuppressionListDestination == nil || j.JobStatus == "" {
					t.Errorf("summary %d: %+v", i, j)
				}
				if i > 0 && j.CreatedTimestamp.After(*got[i-1].CreatedTimestamp) {
					t.Errorf("summary %d is newer than the one before", i)
				}
			}
			if out, err := ses.ListImportJobs(ctx, &sesv2.ListImportJobsInput{ImportDestinationType: types.ImportDestinationTypeContactList}); err != nil || len(out.ImportJobs) != 0 {
				t.Errorf("CONTACT_LIST jobs: %v, %v", out, err)
			}
			if out, err := other.ListImportJobs(ctx, &sesv2.ListImportJobsInput{}); err != nil || len(out.ImportJobs) != 1 || aws.ToString(out.ImportJobs[0].JobId) != otherID {
				t.Errorf("other's list: %v, %v", out, err)
			}
			_, err = other.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: aws.String(aws.ToString(got[0].JobId))})
			if code, _ := apiCode(err); code != "NotFoundException" {
				t.Errorf("GetImportJob of another account's job: %v", err)
			}
			// The route older SDKs and the AWS CLI 2.9 use: GET, with the
			// members in a JSON body (the CLI's) or in the query string.
			for _, c := range []struct{ path, body string }{
				{"/v2/email/import-jobs", `{"ImportDestinationType":"SUPPRESSION_LIST","PageSize":10}`},
				{"/v2/email/import-jobs?ImportDestinationType=SUPPRESSION_LIST&PageSize=10", ""},
			} {
				status, _, body := signedDo(t, srv, tenants["acme"], "GET", c.path, []byte(c.body))
				var out struct{ ImportJobs []struct{ JobId string } }
				if status != 200 || json.Unmarshal(body, &out) != nil || len(out.ImportJobs) != 5 {
					t.Errorf("GET %s with body %q: %d %s", c.path, c.body, status, body)
				}
			}
			_, err = ses.ListImportJobs(ctx, &sesv2.ListImportJobsInput{NextToken: aws.String("bogus")})
			if code, _ := apiCode(err); code != "BadRequestException" {
				t.Errorf("bogus NextToken: %v", err)
			}
			_, err = ses.ListImportJobs(ctx, &sesv2.ListImportJobsInput{PageSize: aws.Int32(1001)})
			if code, _ := apiCode(err); code != "BadRequestException" {
				t.Errorf("PageSize 1001: %v", err)
			}
		})
	}
}

// TestImportJobsFairAcrossAccounts: the runner takes accounts in turn, so
// one account's queue of large jobs does not hold up another's: victim's
// one-row job, created after all of hog's 20,000-row jobs, finishes while
// some of hog's have not started (in order, it would wait for all six).
// Hog's jobs are created at once, and the victim's right after, so that
// however fast the machine imports, hog's queue is still there when the
// victim's job arrives. (The test does not wait for hog's jobs: under the
// race detector 120,000 rows take longer than a test should. From the
// break review's TestBrkImportJobsOneTenantStarvesAnother.)
func TestImportJobsFairAcrossAccounts(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "hog", "victim")
			ctx := t.Context()
			hog := sesClient(srv.URL, tenants["hog"], 1)
			victim := sesClient(srv.URL, tenants["victim"], 1)
			var big strings.Builder
			for i := range 20000 {
				fmt.Fprintf(&big, "u%d@big.example,BOUNCE\n", i)
			}
			url := upload(t, srv, tenants["hog"], "big.csv", []byte(big.String()))
			small := upload(t, srv, tenants["victim"], "one.csv", []byte("a@victim.example,BOUNCE\n"))
			hogJobs := make([]string, 6)
			var wg sync.WaitGroup
			for i := range hogJobs {
				wg.Go(func() {
					id, err := createJob(ctx, hog, types.SuppressionListImportActionPut, url, types.DataFormatCsv)
					if err != nil {
						t.Error(err)
					}
					hogJobs[i] = id
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			vid, err := createJob(ctx, victim, types.SuppressionListImportActionPut, small, types.DataFormatCsv)
			if err != nil {
				t.Fatal(err)
			}
			if v := waitJob(t, victim, vid); v.JobStatus != types.JobStatusCompleted {
				t.Fatalf("victim's job: %s", v.JobStatus)
			}
			// The victim's job is done: some of hog's, all created before
			// it, must not have started yet (timestamps are too coarse to
			// compare).
			var states []types.JobStatus
			waiting := 0
			for _, id := range hogJobs {
				out, err := hog.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: aws.String(id)})
				if err != nil {
					t.Fatal(err)
				}
				states = append(states, out.JobStatus)
				if out.JobStatus == types.JobStatusCreated {
					waiting++
				}
			}
			if waiting == 0 {
				t.Errorf("when victim's 1-row job completed, every one of hog's %d 20,000-row jobs had started (%v): one account's imports starve the others'",
					len(hogJobs), states)
			}
		})
	}
}

// TestImportJobLimits: an account's unfinished jobs past
// importjob.MaxUnfinishedJobs, and its uploads past
// importjob.MaxUploadBytes, are LimitExceededException (SES's error of
// CreateImportJob for a limit) with a message that says the limit; another
// account is not affected.
func TestImportJobLimits(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, db := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			// MaxUnfinishedJobs jobs held PROCESSING under the live lease
			// of a node that is not running (so the runner leaves them).
			url := upload(t, srv, tenants["acme"], "l.csv", []byte("a@x.example,BOUNCE\n"))
			for i := range importjob.MaxUnfinishedJobs {
				if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO import_jobs (id, account, action, source_url, format, status, created_ms, lease_owner, lease_until_ms)
					VALUES (?, 'acme', 'PUT', ?, 'CSV', 'PROCESSING', ?, 'elsewhere', ?)`), fmt.Sprintf("held%d", i), url, time.Now().UnixMilli(), time.Now().Add(time.Hour).UnixMilli()); err != nil {
					t.Fatal(err)
				}
			}
			_, err := createJob(ctx, ses, types.SuppressionListImportActionPut, url, types.DataFormatCsv)
			if code, msg := apiCode(err); code != "LimitExceededException" || !strings.Contains(msg, fmt.Sprintf("already has %d import jobs", importjob.MaxUnfinishedJobs)) {
				t.Errorf("a job past the limit: %s %q", code, msg)
			}
			otherURL := upload(t, srv, tenants["other"], "l.csv", []byte("a@x.example,BOUNCE\n"))
			if _, err := createJob(ctx, sesClient(srv.URL, tenants["other"], 1), types.SuppressionListImportActionPut, otherURL, types.DataFormatCsv); err != nil {
				t.Errorf("another account's job: %v", err)
			}
			// Uploads: a stored one of nearly the whole quota (its data
			// shortened), then one byte too many.
			if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO import_uploads (id, account, name, size, created_ms, data) VALUES ('big', 'acme', 'big.csv', ?, ?, ?)"),
				importjob.MaxUploadBytes-20, time.Now().UnixMilli(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			status, h, body := signedDo(t, srv, tenants["acme"], "PUT", "/v2/email/import-data/more.csv", []byte("a@x.example,BOUNCE\n"))
			if status != 400 || h.Get("x-amzn-ErrorType") != "LimitExceededException" || !strings.Contains(string(body), "quota of 268435456 bytes (256 MiB)") {
				t.Errorf("an upload past the quota: %d %s %s", status, h.Get("x-amzn-ErrorType"), body)
			}
			upload(t, srv, tenants["other"], "more.csv", []byte("a@x.example,BOUNCE\n"))
		})
	}
}
