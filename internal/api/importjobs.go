package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"

	"github.com/petrelmail/petrel/internal/importjob"
)

// SES's import jobs into the account-level suppression list and into
// contact lists (../shared/spec/ses.md §1.13): CreateImportJob, GetImportJob,
// ListImportJobs, with S3 replaced by Petrel's two data sources
// (docs/suppression.md, "Bulk import"): petrel-upload:// URLs from UploadImportData
// and file:// URLs under the account's own directory of the import directory.

// importDestination is ImportDestination: one of its members.
type importDestination struct {
	ContactListDestination     *contactListDestination     `json:"ContactListDestination,omitempty"`
	SuppressionListDestination *suppressionListDestination `json:"SuppressionListDestination,omitempty"`
}

// suppressionListDestination is SuppressionListDestination:
// SuppressionListImportAction is PUT or DELETE.
type suppressionListDestination struct {
	SuppressionListImportAction string `json:"SuppressionListImportAction"`
}

// contactListDestination is ContactListDestination: ContactListImportAction
// is PUT or DELETE (docs/contacts.md, "Importing contacts").
type contactListDestination struct {
	ContactListImportAction string `json:"ContactListImportAction"`
	ContactListName         string `json:"ContactListName"`
}

// importDataSource is ImportDataSource: DataFormat is CSV or JSON.
type importDataSource struct {
	DataFormat string `json:"DataFormat"`
	S3Url      string `json:"S3Url"`
}

// createImportJobInput is CreateImportJobRequest.
type createImportJobInput struct {
	ImportDataSource  *importDataSource  `json:"ImportDataSource"`
	ImportDestination *importDestination `json:"ImportDestination"`
}

// createImportJobOutput is CreateImportJobResponse.
type createImportJobOutput struct {
	JobId string `json:"JobId"`
}

// failureInfo is FailureInfo: FailedRecordsS3Url is the Petrel URL of the
// failed records (GET, signed like every call), given once the job has
// COMPLETED with some; ErrorMessage says why a job FAILED.
type failureInfo struct {
	ErrorMessage       string `json:"ErrorMessage,omitempty"`
	FailedRecordsS3Url string `json:"FailedRecordsS3Url,omitempty"`
}

// getImportJobOutput is GetImportJobResponse; CompletedTimestamp and
// FailureInfo are left out until there is something to say.
type getImportJobOutput struct {
	CompletedTimestamp    *float64          `json:"CompletedTimestamp,omitempty"`
	CreatedTimestamp      float64           `json:"CreatedTimestamp"`
	FailedRecordsCount    int               `json:"FailedRecordsCount"`
	FailureInfo           *failureInfo      `json:"FailureInfo,omitempty"`
	ImportDataSource      importDataSource  `json:"ImportDataSource"`
	ImportDestination     importDestination `json:"ImportDestination"`
	JobId                 string            `json:"JobId"`
	JobStatus             string            `json:"JobStatus"`
	ProcessedRecordsCount int               `json:"ProcessedRecordsCount"`
}

// importJobSummary is ImportJobSummary.
type importJobSummary struct {
	CreatedTimestamp      float64           `json:"CreatedTimestamp"`
	FailedRecordsCount    int               `json:"FailedRecordsCount"`
	ImportDestination     importDestination `json:"ImportDestination"`
	JobId                 string            `json:"JobId"`
	JobStatus             string            `json:"JobStatus"`
	ProcessedRecordsCount int               `json:"ProcessedRecordsCount"`
}

// listImportJobsInput is ListImportJobsRequest: ImportDestinationType is
// SUPPRESSION_LIST or CONTACT_LIST (absent: all).
type listImportJobsInput struct {
	ImportDestinationType string  `json:"ImportDestinationType"`
	NextToken             *string `json:"NextToken"`
	PageSize              *int    `json:"PageSize"` // 0-1000; 0 or absent: 100
}

// listImportJobsOutput is ListImportJobsResponse; NextToken is left out
// on the last page.
type listImportJobsOutput struct {
	ImportJobs []importJobSummary `json:"ImportJobs"`
	NextToken  string             `json:"NextToken,omitempty"`
}

// uploadImportDataOutput is the answer to PUT /v2/email/import-data/{Name}
// (Petrel's extension): S3Url is what CreateImportJob's
// ImportDataSource.S3Url takes, Size the bytes stored.
type uploadImportDataOutput struct {
	Name  string `json:"Name"`
	S3Url string `json:"S3Url"`
	Size  int64  `json:"Size"`
}

// importError maps importjob's errors to SES's.
func importError(err error) error {
	var (
		in  *importjob.InputError
		lim *importjob.LimitError
	)
	switch {
	case errors.As(err, &in):
		return badRequest("%s", in.Msg)
	case errors.As(err, &lim):
		return &Error{Code: "LimitExceededException", Status: 400, Message: lim.Msg}
	case errors.Is(err, importjob.ErrNotFound):
		return notFound("Import job not found.")
	case errors.Is(err, importjob.ErrInvalidToken):
		return badRequest("NextToken is not valid.")
	}
	return err
}

// createImportJob is CreateImportJob: POST /v2/email/import-jobs. The job
// runs in the background; GetImportJob follows it.
func (s *Server) createImportJob(ctx context.Context, c *call) (any, error) {
	var in createImportJobInput
	if err := decode(c, &in); err != nil {
		return nil, err
	}
	switch {
	case in.ImportDestination == nil:
		return nil, badRequest("ImportDestination is required.")
	case in.ImportDataSource == nil || in.ImportDataSource.S3Url == "" || in.ImportDataSource.DataFormat == "":
		return nil, badRequest("ImportDataSource with S3Url and DataFormat is required.")
	case in.ImportDestination.ContactListDestination != nil && in.ImportDestination.SuppressionListDestination != nil:
		return nil, badRequest("ImportDestination takes one of SuppressionListDestination and ContactListDestination, not both.")
	case in.ImportDestination.ContactListDestination == nil && in.ImportDestination.SuppressionListDestination == nil:
		return nil, badRequest("ImportDestination needs SuppressionListDestination or ContactListDestination.")
	}
	list, action := "", ""
	if d := in.ImportDestination.ContactListDestination; d != nil {
		if d.ContactListName == "" {
			return nil, badRequest("ContactListDestination: ContactListName is required.")
		}
		list, action = d.ContactListName, d.ContactListImportAction
	} else {
		action = in.ImportDestination.SuppressionListDestination.SuppressionListImportAction
	}
	j, err := s.ImportJobs.CreateFor(ctx, c.account, list, importjob.Action(action),
		in.ImportDataSource.S3Url, importjob.Format(in.ImportDataSource.DataFormat))
	if err != nil {
		return nil, importError(err)
	}
	return createImportJobOutput{JobId: j.ID}, nil
}

// getImportJob is GetImportJob: GET /v2/email/import-jobs/{JobId}. Another
// account's job is NotFoundException.
func (s *Server) getImportJob(ctx context.Context, c *call) (any, error) {
	j, err := s.ImportJobs.Get(ctx, c.account, c.r.PathValue("JobId"))
	if err != nil {
		return nil, importError(err)
	}
	out := getImportJobOutput{
		CreatedTimestamp: epoch(j), FailedRecordsCount: j.Failed, JobId: j.ID, JobStatus: string(j.Status),
		ProcessedRecordsCount: j.Processed, ImportDestination: importDest(j),
		ImportDataSource: importDataSource{DataFormat: string(j.Format), S3Url: j.SourceURL},
	}
	if !j.Completed.IsZero() {
		t := float64(j.Completed.UnixMilli()) / 1000
		out.CompletedTimestamp = &t
	}
	if j.ErrorMessage != "" || j.Failed > 0 {
		out.FailureInfo = &failureInfo{ErrorMessage: j.ErrorMessage}
		if j.Failed > 0 && j.Status == importjob.Completed {
			scheme := "http"
			if c.r.TLS != nil {
				scheme = "https"
			}
			out.FailureInfo.FailedRecordsS3Url = scheme + "://" + c.r.Host + "/v2/email/import-jobs/" + j.ID + "/failed-records"
		}
	}
	return out, nil
}

func epoch(j importjob.Job) float64 { return float64(j.Created.UnixMilli()) / 1000 }

func importDest(j importjob.Job) importDestination {
	if j.ContactList != "" {
		return importDestination{ContactListDestination: &contactListDestination{ContactListImportAction: string(j.Action), ContactListName: j.ContactList}}
	}
	return importDestination{SuppressionListDestination: &suppressionListDestination{SuppressionListImportAction: string(j.Action)}}
}

// listImportJobs is ListImportJobs: POST /v2/email/import-jobs/list, the
// account's jobs newest first, PageSize (default 100) at a time.
func (s *Server) listImportJobs(ctx context.Context, c *call) (any, error) {
	var in listImportJobsInput
	if err := decodeOptional(c.body, &in); err != nil {
		return nil, err
	}
	return s.listImportJobsIn(ctx, c, in)
}

// listImportJobsQuery is ListImportJobs as older SDKs and the AWS CLI up to
// 2.9 send it: GET /v2/email/import-jobs (the model's route before it
// became POST /v2/email/import-jobs/list), with the members in a JSON body
// as that model had them (the CLI sends one), or else in the query string.
func (s *Server) listImportJobsQuery(ctx context.Context, c *call) (any, error) {
	if len(bytes.TrimSpace(c.body)) > 0 {
		return s.listImportJobs(ctx, c)
	}
	q := c.r.URL.Query()
	in := listImportJobsInput{ImportDestinationType: q.Get("ImportDestinationType")}
	var err error
	if in.NextToken, in.PageSize, err = pageQuery(q); err != nil {
		return nil, err
	}
	return s.listImportJobsIn(ctx, c, in)
}

func (s *Server) listImportJobsIn(ctx context.Context, c *call, in listImportJobsInput) (any, error) {
	size, err := pageSize(in.PageSize)
	if err != nil {
		return nil, err
	}
	out := listImportJobsOutput{ImportJobs: []importJobSummary{}}
	dest := importjob.DestinationType(in.ImportDestinationType)
	switch dest {
	case importjob.AnyDestination, importjob.SuppressionList, importjob.ContactList:
	default:
		return nil, badRequest("ImportDestinationType %q is not one of SUPPRESSION_LIST, CONTACT_LIST.", in.ImportDestinationType)
	}
	token := ""
	if in.NextToken != nil {
		token = *in.NextToken
	}
	jobs, next, err := s.ImportJobs.List(ctx, c.account, dest, token, size)
	if err != nil {
		return nil, importError(err)
	}
	for _, j := range jobs {
		out.ImportJobs = append(out.ImportJobs, importJobSummary{CreatedTimestamp: epoch(j), FailedRecordsCount: j.Failed,
			ImportDestination: importDest(j), JobId: j.ID, JobStatus: string(j.Status), ProcessedRecordsCount: j.Processed})
	}
	out.NextToken = next
	return out, nil
}

// uploadImportData is Petrel's extension PUT /v2/email/import-data/{Name}:
// the raw file as the body (at most importjob.MaxData bytes), stored
// durably for the account's import jobs.
func (s *Server) uploadImportData(ctx context.Context, c *call) (any, error) {
	u, err := s.ImportJobs.Upload(ctx, c.account, c.r.PathValue("Name"), c.body)
	if err != nil {
		return nil, importError(err)
	}
	return uploadImportDataOutput{Name: u.Name, S3Url: u.URL(), Size: u.Size}, nil
}

// failedRecords is Petrel's GET /v2/email/import-jobs/{JobId}/failed-records,
// the FailedRecordsS3Url of GetImportJob: the job's first
// importjob.MaxFailures failed records as CSV (text/csv, RFC 4180), with the
// header LineNumber,Record,Error. It is signed like every call; another
// account's job is NotFoundException.
func (s *Server) failedRecords() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		c, err := s.admit(w, r, 0)
		var fails []importjob.Failure
		if err == nil {
			fails, err = s.ImportJobs.FailedRecords(r.Context(), c.account, r.PathValue("JobId"))
			s.Budget.ReleaseFor(c.account, c.held)
		}
		if err != nil {
			s.writeError(w, r, reqID, importError(err))
			return
		}
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		cw.Write([]string{"LineNumber", "Record", "Error"})
		for _, f := range fails {
			cw.Write([]string{strconv.Itoa(f.Line), f.Record, f.Error})
		}
		cw.Flush()
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Write(b.Bytes())
	})
}
