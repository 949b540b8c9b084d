package api

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/contacts"
	"github.com/petrelmail/petrel/internal/store"
)

func listTopics() []types.Topic {
	return []types.Topic{
		{TopicName: aws.String("sports"), DisplayName: aws.String("Sports"), Description: aws.String("All sports"), DefaultSubscriptionStatus: types.SubscriptionStatusOptOut},
		{TopicName: aws.String("news"), DisplayName: aws.String("News"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn},
	}
}

func createTestList(t *testing.T, ses *sesv2.Client) {
	t.Helper()
	if _, err := ses.CreateContactList(t.Context(), &sesv2.CreateContactListInput{ContactListName: aws.String("news"), Description: aws.String("Our lists"),
		Topics: listTopics(), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("growth")}}}); err != nil {
		t.Fatal(err)
	}
}

func prefString(ps []types.TopicPreference) string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.TopicName)+"="+string(p.SubscriptionStatus))
	}
	return strings.Join(out, ",")
}

// TestContactListOperations: every contact-list and contact operation
// through the SDK, on both backends, with the shapes SES answers.
func TestContactListOperations(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			other := sesClient(srv.URL, tenants["other"], 1)
			before := time.Now().Add(-time.Second)
			createTestList(t, ses)

			got, err := ses.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: aws.String("news")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.ContactListName) != "news" || aws.ToString(got.Description) != "Our lists" || len(got.Topics) != 2 ||
				aws.ToString(got.Topics[0].TopicName) != "sports" || aws.ToString(got.Topics[0].DisplayName) != "Sports" ||
				aws.ToString(got.Topics[0].Description) != "All sports" || got.Topics[0].DefaultSubscriptionStatus != types.SubscriptionStatusOptOut ||
				got.Topics[1].DefaultSubscriptionStatus != types.SubscriptionStatusOptIn || len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "team" ||
				got.CreatedTimestamp == nil || got.CreatedTimestamp.Before(before) || got.LastUpdatedTimestamp == nil {
				t.Fatalf("GetContactList: %+v", got)
			}
			lists, err := ses.ListContactLists(ctx, &sesv2.ListContactListsInput{})
			if err != nil || len(lists.ContactLists) != 1 || aws.ToString(lists.ContactLists[0].ContactListName) != "news" || lists.NextToken != nil {
				t.Fatalf("ListContactLists: %+v %v", lists, err)
			}
			if lists, err := other.ListContactLists(ctx, &sesv2.ListContactListsInput{}); err != nil || len(lists.ContactLists) != 0 {
				t.Fatalf("another account's ListContactLists: %+v %v", lists, err)
			}

			if _, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("Jane@Example.com"),
				TopicPreferences: []types.TopicPreference{{TopicName: aws.String("sports"), SubscriptionStatus: types.SubscriptionStatusOptIn}},
				AttributesData:   aws.String(`{"name":"Jane"}`)}); err != nil {
				t.Fatal(err)
			}
			c, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("jane@example.com")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(c.EmailAddress) != "Jane@Example.com" || aws.ToString(c.ContactListName) != "news" || aws.ToString(c.AttributesData) != `{"name":"Jane"}` ||
				prefString(c.TopicPreferences) != "sports=OPT_IN" || prefString(c.TopicDefaultPreferences) != "news=OPT_IN" || c.UnsubscribeAll ||
				c.CreatedTimestamp == nil || c.LastUpdatedTimestamp == nil {
				t.Fatalf("GetContact: %+v", c)
			}
			// UpdateContact replaces every preference.
			if _, err := ses.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("jane@example.com"),
				TopicPreferences: []types.TopicPreference{{TopicName: aws.String("news"), SubscriptionStatus: types.SubscriptionStatusOptOut}},
				UnsubscribeAll:   true}); err != nil {
				t.Fatal(err)
			}
			c, _ = ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("jane@example.com")})
			if prefString(c.TopicPreferences) != "news=OPT_OUT" || prefString(c.TopicDefaultPreferences) != "sports=OPT_OUT" || !c.UnsubscribeAll || c.AttributesData != nil {
				t.Fatalf("after UpdateContact: %+v", c)
			}
			for i := range 5 {
				if _, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(fmt.Sprintf("u%d@example.com", i)),
					TopicPreferences: []types.TopicPreference{{TopicName: aws.String("sports"), SubscriptionStatus: types.SubscriptionStatusOptIn}}}); err != nil {
					t.Fatal(err)
				}
			}
			// ListContacts pages (the paginator sends NextToken back).
			var emails []string
			p := sesv2.NewListContactsPaginator(ses, &sesv2.ListContactsInput{ContactListName: aws.String("news"), PageSize: aws.Int32(2),
				Filter: &types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptIn, TopicFilter: &types.TopicFilter{TopicName: aws.String("sports")}}})
			pages := 0
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, c := range page.Contacts {
					emails = append(emails, aws.ToString(c.EmailAddress))
					if prefString(c.TopicPreferences) != "sports=OPT_IN" || prefString(c.TopicDefaultPreferences) != "news=OPT_IN" || c.LastUpdatedTimestamp == nil {
						t.Errorf("listed contact: %+v", c)
					}
				}
			}
			if want := []string{"u0@example.com", "u1@example.com", "u2@example.com", "u3@example.com", "u4@example.com"}; !slices.Equal(emails, want) || pages != 3 {
				t.Fatalf("ListContacts: %v in %d pages", emails, pages)
			}
			out, err := ses.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: aws.String("news"),
				Filter: &types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptOut}})
			if err != nil || len(out.Contacts) != 1 || aws.ToString(out.Contacts[0].EmailAddress) != "Jane@Example.com" || !out.Contacts[0].UnsubscribeAll {
				t.Fatalf("unsubscribed from all: %+v %v", out, err)
			}

			// UpdateContactList replaces the topics; the dropped topic's
			// preferences go.
			if _, err := ses.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: aws.String("news"), Topics: listTopics()[1:]}); err != nil {
				t.Fatal(err)
			}
			got, _ = ses.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: aws.String("news")})
			if len(got.Topics) != 1 || got.Description != nil || len(got.Tags) != 1 {
				t.Fatalf("after UpdateContactList: %+v", got)
			}
			c, _ = ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("u0@example.com")})
			if len(c.TopicPreferences) != 0 || prefString(c.TopicDefaultPreferences) != "news=OPT_IN" {
				t.Fatalf("preferences of a removed topic: %+v", c)
			}

			if _, err := ses.DeleteContact(ctx, &sesv2.DeleteContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("u0@example.com")}); err != nil {
				t.Fatal(err)
			}
			if _, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("u0@example.com")}); !hasCode(err, "NotFoundException") {
				t.Fatalf("deleted contact: %v", err)
			}
			if _, err := other.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: aws.String("news")}); !hasCode(err, "NotFoundException") {
				t.Fatalf("another account's list: %v", err)
			}
			if _, err := ses.DeleteContactList(ctx, &sesv2.DeleteContactListInput{ContactListName: aws.String("news")}); err != nil {
				t.Fatal(err)
			}
			if _, err := ses.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: aws.String("news")}); !hasCode(err, "NotFoundException") {
				t.Fatalf("deleted list: %v", err)
			}
		})
	}
}

func hasCode(err error, code string) bool {
	c, _ := apiCode(err)
	return c == code
}

// TestContactListErrors: SES's errors for bad input, missing resources,
// a second list, and conflicts.
func TestContactListErrors(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	ses := sesClient(srv.URL, tenants["acme"], 1)
	list := aws.String("news")
	email := aws.String("a@example.com")
	createTestList(t, ses)
	if _, err := ses.CreateContact(t.Context(), &sesv2.CreateContactInput{ContactListName: list, EmailAddress: email}); err != nil {
		t.Fatal(err)
	}
	many := make([]types.Topic, 21)
	for i := range many {
		many[i] = types.Topic{TopicName: aws.String(fmt.Sprint("t", i)), DisplayName: aws.String("T"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn}
	}
	pref := func(topic, status string) []types.TopicPreference {
		return []types.TopicPreference{{TopicName: aws.String(topic), SubscriptionStatus: types.SubscriptionStatus(status)}}
	}
	for _, tc := range []struct {
		name, code, msg string
		call            func(ctx context.Context) error
	}{
		{"second list", "LimitExceededException", "only 1 contact list", func(ctx context.Context) error {
			_, err := ses.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("other")})
			return err
		}},
		{"same list again", "AlreadyExistsException", "Contact list news already exists", func(ctx context.Context) error {
			_, err := ses.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: list})
			return err
		}},
		{"bad list name", "BadRequestException", "ContactListName", func(ctx context.Context) error {
			_, err := ses.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("a b")})
			return err
		}},
		{"21 topics", "LimitExceededException", "at most 20 topics", func(ctx context.Context) error {
			_, err := ses.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list, Topics: many})
			return err
		}},
		{"topic without display name", "BadRequestException", "DisplayName of topic x is required", func(ctx context.Context) error {
			_, err := ses.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list,
				Topics: []types.Topic{{TopicName: aws.String("x"), DisplayName: aws.String(""), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn}}})
			return err
		}},
		{"bad default", "BadRequestException", "DefaultSubscriptionStatus", func(ctx context.Context) error {
			_, err := ses.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list,
				Topics: []types.Topic{{TopicName: aws.String("x"), DisplayName: aws.String("X"), DefaultSubscriptionStatus: "MAYBE"}}})
			return err
		}},
		{"update missing list", "NotFoundException", "Contact list gone does not exist.", func(ctx context.Context) error {
			_, err := ses.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: aws.String("gone")})
			return err
		}},
		{"delete missing list", "NotFoundException", "does not exist", func(ctx context.Context) error {
			_, err := ses.DeleteContactList(ctx, &sesv2.DeleteContactListInput{ContactListName: aws.String("gone")})
			return err
		}},
		{"contact again", "AlreadyExistsException", "already exists", func(ctx context.Context) error {
			_, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("A@example.com")})
			return err
		}},
		{"contact in missing list", "NotFoundException", "Contact list gone does not exist.", func(ctx context.Context) error {
			_, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("gone"), EmailAddress: email})
			return err
		}},
		{"bad address", "BadRequestException", "not a valid email address", func(ctx context.Context) error {
			_, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("nobody")})
			return err
		}},
		{"unknown topic", "BadRequestException", "Topic golf does not exist", func(ctx context.Context) error {
			_, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("b@example.com"), TopicPreferences: pref("golf", "OPT_IN")})
			return err
		}},
		{"bad status", "BadRequestException", "SubscriptionStatus", func(ctx context.Context) error {
			_, err := ses.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: list, EmailAddress: email, TopicPreferences: pref("news", "YES")})
			return err
		}},
		{"attributes not JSON", "BadRequestException", "AttributesData", func(ctx context.Context) error {
			_, err := ses.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: list, EmailAddress: email, AttributesData: aws.String("{")})
			return err
		}},
		{"update missing contact", "NotFoundException", "Contact b@example.com does not exist in contact list news.", func(ctx context.Context) error {
			_, err := ses.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: list, EmailAddress: aws.String("b@example.com")})
			return err
		}},
		{"delete missing contact", "NotFoundException", "does not exist", func(ctx context.Context) error {
			_, err := ses.DeleteContact(ctx, &sesv2.DeleteContactInput{ContactListName: list, EmailAddress: aws.String("b@example.com")})
			return err
		}},
		{"list contacts of missing list", "NotFoundException", "does not exist", func(ctx context.Context) error {
			_, err := ses.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: aws.String("gone")})
			return err
		}},
		{"list contacts unknown topic", "BadRequestException", "Topic golf does not exist", func(ctx context.Context) error {
			_, err := ses.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, Filter: &types.ListContactsFilter{TopicFilter: &types.TopicFilter{TopicName: aws.String("golf")}}})
			return err
		}},
		{"list contacts bad token", "BadRequestException", "NextToken", func(ctx context.Context) error {
			_, err := ses.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, NextToken: aws.String("@@")})
			return err
		}},
		{"list contact lists bad token", "BadRequestException", "NextToken is not valid.", func(ctx context.Context) error {
			_, err := ses.ListContactLists(ctx, &sesv2.ListContactListsInput{NextToken: aws.String("garbage")})
			return err
		}},
		{"list contact lists page size", "BadRequestException", "PageSize", func(ctx context.Context) error {
			_, err := ses.ListContactLists(ctx, &sesv2.ListContactListsInput{PageSize: aws.Int32(1001), NextToken: aws.String("garbage")})
			return err
		}},
		{"list contacts page size", "BadRequestException", "PageSize", func(ctx context.Context) error {
			_, err := ses.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, PageSize: aws.Int32(1001)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := apiCode(tc.call(t.Context()))
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("%s %q, want %s containing %q", code, msg, tc.code, tc.msg)
			}
		})
	}
}

// TestListContactsGet: ListContacts as the model's earlier binding sends
// it, GET …/contacts with PageSize and NextToken in the query.
func TestListContactsGet(t *testing.T) {
	srv, _, tenants, _ := startAPI(t, 256<<20, "acme")
	acme := tenants["acme"]
	ses := sesClient(srv.URL, acme, 1)
	createTestList(t, ses)
	for _, e := range []string{"a@example.com", "b@example.com"} {
		if _, err := ses.CreateContact(t.Context(), &sesv2.CreateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e)}); err != nil {
			t.Fatal(err)
		}
	}
	status, _, body := signedDo(t, srv, acme, "GET", "/v2/email/contact-lists/news/contacts?PageSize=1", nil)
	if status != 200 || !strings.Contains(string(body), `"EmailAddress":"a@example.com"`) || !strings.Contains(string(body), `"NextToken":"`) {
		t.Fatalf("GET page 1: %d %s", status, body)
	}
	token := strings.Split(strings.Split(string(body), `"NextToken":"`)[1], `"`)[0]
	status, _, body = signedDo(t, srv, acme, "GET", "/v2/email/contact-lists/news/contacts?PageSize=1&NextToken="+url.QueryEscape(token), nil)
	if status != 200 || !strings.Contains(string(body), `"EmailAddress":"b@example.com"`) || strings.Contains(string(body), "NextToken") {
		t.Fatalf("GET page 2: %d %s", status, body)
	}
}

// TestContactListTags: TagResource, UntagResource and ListTagsForResource
// on a contact list's ARN; another account's ARN and a missing list are
// NotFoundException.
func TestContactListTags(t *testing.T) {
	srv, s, tenants, _ := startAPI(t, 256<<20, "acme", "other")
	ctx := t.Context()
	ses := sesClient(srv.URL, tenants["acme"], 1)
	createTestList(t, ses)
	a, err := s.Accounts.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:ses:us-east-1:" + a.SendingAccountID + ":contact-list/news"
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}, {Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	out, err := ses.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team" || aws.ToString(out.Tags[0].Value) != "ops" {
		t.Fatalf("ListTagsForResource: %+v %v", out, err)
	}
	other := sesClient(srv.URL, tenants["other"], 1)
	if _, err := other.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)}); !hasCode(err, "NotFoundException") {
		t.Fatalf("another account's ARN: %v", err)
	}
	missing := strings.TrimSuffix(arn, "news") + "gone"
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(missing), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); !hasCode(err, "NotFoundException") {
		t.Fatalf("missing list: %v", err)
	}
	if _, err := ses.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String(""), Value: aws.String("v")}}}); !hasCode(err, "BadRequestException") {
		t.Fatalf("empty key: %v", err)
	}
}

// TestContactListImport: a ContactListDestination PUT job from CSV and a
// DELETE job from JSON, through uploads; bad records are counted failed;
// ListImportJobs filters by ImportDestinationType.
func TestContactListImport(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, _, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			acme := tenants["acme"]
			ses := sesClient(srv.URL, acme, 1)
			createTestList(t, ses)
			data := "emailAddress,unsubscribeAll,topicPreferences,attributesData\n" +
				"a@x.example,false,sports:OPT_IN;news:OPT_OUT,\"{\"\"name\"\":\"\"A\"\"}\"\n" +
				"b@x.example,TRUE\n" +
				"c@x.example,,golf:OPT_IN\n" + // unknown topic: failed
				"broken\n" + // not an address: failed
				"d@x.example\n"
			job := func(action types.ContactListImportAction, url string, format types.DataFormat) *sesv2.GetImportJobOutput {
				t.Helper()
				out, err := ses.CreateImportJob(ctx, &sesv2.CreateImportJobInput{
					ImportDestination: &types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String("news"), ContactListImportAction: action}},
					ImportDataSource:  &types.ImportDataSource{S3Url: aws.String(url), DataFormat: format},
				})
				if err != nil {
					t.Fatal(err)
				}
				return waitJob(t, ses, aws.ToString(out.JobId))
			}
			out := job(types.ContactListImportActionPut, upload(t, srv, acme, "contacts.csv", []byte(data)), types.DataFormatCsv)
			if out.JobStatus != types.JobStatusCompleted || aws.ToInt32(out.ProcessedRecordsCount) != 3 || aws.ToInt32(out.FailedRecordsCount) != 2 {
				t.Fatalf("PUT job: %s processed %d failed %d %+v", out.JobStatus, aws.ToInt32(out.ProcessedRecordsCount), aws.ToInt32(out.FailedRecordsCount), out.FailureInfo)
			}
			if d := out.ImportDestination; d == nil || d.ContactListDestination == nil || aws.ToString(d.ContactListDestination.ContactListName) != "news" ||
				d.ContactListDestination.ContactListImportAction != types.ContactListImportActionPut || d.SuppressionListDestination != nil {
				t.Fatalf("ImportDestination: %+v", d)
			}
			c, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("a@x.example")})
			if err != nil || prefString(c.TopicPreferences) != "news=OPT_OUT,sports=OPT_IN" || aws.ToString(c.AttributesData) != `{"name":"A"}` || c.UnsubscribeAll {
				t.Fatalf("imported a@: %+v %v", c, err)
			}
			if c, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("b@x.example")}); err != nil || !c.UnsubscribeAll {
				t.Fatalf("imported b@: %+v %v", c, err)
			}
			path := strings.TrimPrefix(aws.ToString(out.FailureInfo.FailedRecordsS3Url), srv.URL)
			if status, _, body := signedDo(t, srv, acme, "GET", path, nil); status != 200 || !strings.Contains(string(body), "\n4,") || !strings.Contains(string(body), "Topic golf does not exist") || !strings.Contains(string(body), "\n5,broken,") {
				t.Fatalf("failed records: %d %s", status, body)
			}

			del := `{"emailAddress":"a@x.example"}` + "\n" + `{"emailAddress":"nobody@x.example"}` + "\n"
			out = job(types.ContactListImportActionDelete, upload(t, srv, acme, "del.json", []byte(del)), types.DataFormatJson)
			if out.JobStatus != types.JobStatusCompleted || aws.ToInt32(out.ProcessedRecordsCount) != 2 {
				t.Fatalf("DELETE job: %+v", out)
			}
			if _, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String("a@x.example")}); !hasCode(err, "NotFoundException") {
				t.Fatalf("a@ after DELETE: %v", err)
			}

			if _, err := createJob(ctx, ses, types.SuppressionListImportActionPut, upload(t, srv, acme, "supp.csv", []byte("z@x.example,BOUNCE\n")), types.DataFormatCsv); err != nil {
				t.Fatal(err)
			}
			for dest, want := range map[types.ImportDestinationType]int{types.ImportDestinationTypeContactList: 2, types.ImportDestinationTypeSuppressionList: 1, "": 3} {
				jobs, err := ses.ListImportJobs(ctx, &sesv2.ListImportJobsInput{ImportDestinationType: dest})
				if err != nil || len(jobs.ImportJobs) != want {
					t.Fatalf("ListImportJobs(%q): %d jobs, want %d (%v)", dest, len(jobs.ImportJobs), want, err)
				}
				for _, j := range jobs.ImportJobs {
					if (j.ImportDestination.ContactListDestination != nil) != (j.ImportDestination.SuppressionListDestination == nil) ||
						dest == types.ImportDestinationTypeContactList && j.ImportDestination.ContactListDestination == nil {
						t.Errorf("ListImportJobs(%q): destination %+v", dest, j.ImportDestination)
					}
				}
			}
		})
	}
}

// TestContactQuotedLocalPart: every address the send path accepts as a
// recipient is a contact through the API — '<', '>', '/', '%' and spaces in
// a quoted or dot-atom local part, in the body (CreateContact) and in the
// path (GetContact, UpdateContact, DeleteContact) — under one key with the
// address the send path writes; a display name or angle brackets around
// the address are refused.
func TestContactQuotedLocalPart(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme")
			ctx := t.Context()
			ses := sesClient(srv.URL, tenants["acme"], 1)
			createTestList(t, ses)
			for _, e := range []string{`"<x>"@dest.test`, `"<script>alert(1)</script>"@Dest.test`, `"a b>"@dest.test`, `a/b%c@dest.test`, `"a\"<"@dest.test`} {
				if _, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e)}); err != nil {
					t.Errorf("CreateContact %s: %v", e, err)
					continue
				}
				c, err := ses.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e)})
				if err != nil || aws.ToString(c.EmailAddress) != e {
					t.Errorf("GetContact %s: %+v, %v", e, c, err)
				}
				if _, err := ses.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e), UnsubscribeAll: true}); err != nil {
					t.Errorf("UpdateContact %s: %v", e, err)
				}
				// The send path's form of the recipient finds the same contact.
				u, err := s.Contacts.Unsubscribed(ctx, "acme", "news", "", []string{e})
				if err != nil || len(u) != 1 || u[0] != contacts.UnsubscribedAll {
					t.Errorf("Unsubscribed %s: %v, %v", e, u, err)
				}
				if _, err := ses.DeleteContact(ctx, &sesv2.DeleteContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e)}); err != nil {
					t.Errorf("DeleteContact %s: %v", e, err)
				}
			}
			for _, e := range []string{"<a@dest.test>", "Jane <a@dest.test>", `<"<x>"@dest.test>`} {
				if _, err := ses.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("news"), EmailAddress: aws.String(e)}); !hasCode(err, "BadRequestException") {
					t.Errorf("CreateContact %s: %v, want BadRequestException", e, err)
				}
			}
		})
	}
}
