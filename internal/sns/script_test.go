package sns_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSNSCheckScript runs scripts/sns-check.py (boto3, the AWS CLI when
// /usr/bin/aws is v2, and an independent SignatureVersion 1/2 verifier in
// Python) against the SNS endpoint served as petrel serve mounts it. It is
// skipped when python3 with boto3 is not installed.
func TestSNSCheckScript(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 is not installed")
	}
	e := start(t, "sqlite", "default")
	creds := filepath.Join(t.TempDir(), "credentials")
	ten := e.ten["default"]
	os.WriteFile(creds, []byte(fmt.Sprintf("[petrel]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		ten.creds.AccessKeyID, ten.creds.SecretAccessKey)), 0o600)
	awsCLI := ""
	if out, err := exec.Command("/usr/bin/aws", "--version").Output(); err == nil && strings.HasPrefix(string(out), "aws-cli/2") {
		awsCLI = "/usr/bin/aws"
	}
	cmd := exec.CommandContext(t.Context(), "python3", filepath.Join("..", "..", "scripts", "sns-check.py"), awsCLI, e.srv.URL)
	cmd.Env = append(os.Environ(), "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_PROFILE=petrel", "AWS_CONFIG_FILE=/dev/null",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "SNS_CHECK_OPENSSL="+os.Getenv("SNS_CHECK_OPENSSL"))
	out, err := cmd.CombinedOutput()
	t.Logf("sns-check.py (aws CLI %q):\n%s", awsCLI, out)
	if err != nil {
		t.Fatalf("sns-check.py: %v", err)
	}
}
