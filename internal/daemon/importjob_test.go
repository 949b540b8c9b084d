package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/config"
)

// TestImportJobRuns: the daemon serves CreateImportJob and runs the job in
// the background, reading a file:// under the account's directory of
// --import-dir.
func TestImportJobRuns(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, DefaultAccount), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, DefaultAccount, "list.csv")
	if err := os.WriteFile(file, []byte("a@x.example,BOUNCE\nb@x.example,COMPLAINT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, func(c *config.Config) { c.ImportDir = dir })
	k := td.d.Credentials
	ses := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + td.d.Addr("http")),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	out, err := ses.CreateImportJob(t.Context(), &sesv2.CreateImportJobInput{
		ImportDestination: &types.ImportDestination{SuppressionListDestination: &types.SuppressionListDestination{SuppressionListImportAction: types.SuppressionListImportActionPut}},
		ImportDataSource:  &types.ImportDataSource{S3Url: aws.String("file://" + file), DataFormat: types.DataFormatCsv},
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		j, err := ses.GetImportJob(t.Context(), &sesv2.GetImportJobInput{JobId: out.JobId})
		if err != nil {
			t.Fatal(err)
		}
		if j.JobStatus == types.JobStatusCompleted && aws.ToInt32(j.ProcessedRecordsCount) == 2 {
			break
		}
		if j.JobStatus == types.JobStatusFailed || time.Now().After(deadline) {
			t.Fatalf("job: %s processed %d, %+v", j.JobStatus, aws.ToInt32(j.ProcessedRecordsCount), j.FailureInfo)
		}
	}
}
