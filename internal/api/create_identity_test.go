package api

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/petrelmail/petrel/internal/store"
)

// TestCreateIdentityFailsWhole: a CreateEmailIdentity whose late step
// fails (its verification records cannot be stored: the database refuses
// inserts into identity_records, a real failure injected with a trigger)
// answers an error and leaves nothing behind, so the retry once the
// database takes writes again succeeds instead of meeting
// AlreadyExistsException.
func TestCreateIdentityFailsWhole(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, db := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			refuse := []string{"CREATE TRIGGER refuse_records BEFORE INSERT ON identity_records BEGIN SELECT RAISE(ABORT, 'refused'); END"}
			allow := []string{"DROP TRIGGER refuse_records"}
			if db.Dialect == store.Postgres {
				refuse = []string{
					"CREATE OR REPLACE FUNCTION refuse_records() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
					"CREATE TRIGGER refuse_records BEFORE INSERT ON identity_records FOR EACH ROW EXECUTE FUNCTION refuse_records()",
				}
				allow = []string{"DROP TRIGGER refuse_records ON identity_records"}
			}
			for _, q := range refuse {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			in := &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("late.example")}
			if _, err := ses.CreateEmailIdentity(ctx, in); err == nil {
				t.Fatal("CreateEmailIdentity succeeded although its records could not be stored")
			}
			_, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("late.example")})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "NotFoundException" {
				t.Fatalf("GetEmailIdentity after the failed create: %v, want NotFoundException", err)
			}
			for _, q := range allow {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if _, err := ses.CreateEmailIdentity(ctx, in); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}
