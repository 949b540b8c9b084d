package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/configset"
	"github.com/petrelmail/petrel/internal/store"
)

// testTopics is the SNS side as the API sees it: the topics of each
// account, by ARN. (Package sns answers in the daemon.)
type testTopics map[string]string // ARN → account

func (tt testTopics) TopicExists(_ context.Context, account, arn string) error {
	if tt[arn] != account {
		return errors.New("topic does not exist")
	}
	return nil
}

// testURLs refuses every URL whose host is not in its list, with the kind
// of message the egress guard gives. (Package egress answers in the
// daemon.)
type testURLs []string

func (tu testURLs) CheckURL(_ context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if !slices.Contains(tu, u.Hostname()) {
		return fmt.Errorf("%s: %s is a private address; Petrel does not send notifications to internal networks", raw, u.Hostname())
	}
	return nil
}

const (
	acmeTopic  = "arn:aws:sns:us-east-1:111111111111:acme-events"
	otherTopic = "arn:aws:sns:us-east-1:222222222222:other-events"
)

// startDestAPI is startAPIOn with the sealer, the topics and the URL
// checker the event destination operations need, and the set "s1" of
// account acme.
func startDestAPI(t *testing.T, backend string) (*Server, *sesv2.Client, func(method, path, body string) (int, string, []byte)) {
	t.Helper()
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	s.ConfigSets.SetSealer(s.Accounts)
	s.Topics = testTopics{acmeTopic: "acme", otherTopic: "other"}
	s.URLs = testURLs{"hooks.acme.example"}
	ses := sesClient(srv.URL, tenants["acme"], 1)
	if _, err := ses.CreateConfigurationSet(t.Context(), &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	raw := func(method, path, body string) (int, string, []byte) {
		t.Helper()
		return signedCall(t, srv, tenants["acme"], method, path, []byte(body))
	}
	return s, ses, raw
}

// TestEventDestinationsSDK (issue 14): Create, Get, Update and
// DeleteConfigurationSetEventDestination through aws-sdk-go-v2
// service/sesv2 on both stores, with SES's errors: NotFoundException for
// a missing set or destination, AlreadyExistsException for a name taken,
// LimitExceededException for the 11th destination, BadRequestException for
// a topic of another account and for the destination kinds Petrel does not
// serve (naming them).
func TestEventDestinationsSDK(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testEventDestinationsSDK(t, backend) })
	}
}

func testEventDestinationsSDK(t *testing.T, backend string) {
	_, ses, _ := startDestAPI(t, backend)
	ctx := t.Context()
	def := &types.EventDestinationDefinition{Enabled: true,
		MatchingEventTypes: []types.EventType{types.EventTypeBounce, types.EventTypeComplaint, types.EventTypeDelivery},
		SnsDestination:     &types.SnsDestination{TopicArn: aws.String(acmeTopic)}}
	create := func(set, name string, d *types.EventDestinationDefinition) error {
		_, err := ses.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
			ConfigurationSetName: aws.String(set), EventDestinationName: aws.String(name), EventDestination: d})
		return err
	}
	if err := create("s1", "to-sns", def); err != nil {
		t.Fatal(err)
	}
	get := func() []types.EventDestination {
		t.Helper()
		out, err := ses.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("s1")})
		if err != nil {
			t.Fatal(err)
		}
		return out.EventDestinations
	}
	got := get()
	if len(got) != 1 || aws.ToString(got[0].Name) != "to-sns" || !got[0].Enabled || !slices.Equal(got[0].MatchingEventTypes, def.MatchingEventTypes) ||
		got[0].SnsDestination == nil || aws.ToString(got[0].SnsDestination.TopicArn) != acmeTopic {
		t.Fatalf("Get: %+v", got)
	}

	every := make([]types.EventType, 0, len(configset.EventTypes))
	for _, e := range configset.EventTypes {
		every = append(every, types.EventType(e))
	}
	if _, err := ses.UpdateConfigurationSetEventDestination(ctx, &sesv2.UpdateConfigurationSetEventDestinationInput{
		ConfigurationSetName: aws.String("s1"), EventDestinationName: aws.String("to-sns"),
		EventDestination: &types.EventDestinationDefinition{MatchingEventTypes: every, SnsDestination: def.SnsDestination}}); err != nil {
		t.Fatal(err)
	}
	if got := get(); len(got) != 1 || got[0].Enabled || !slices.Equal(got[0].MatchingEventTypes, every) {
		t.Errorf("after Update (all 10 types, Enabled omitted = false): %+v", got)
	}

	for _, tc := range []struct {
		name, code, msg string
		err             error
	}{
		{"missing set", "NotFoundException", "Configuration set nope does not exist", create("nope", "d", def)},
		{"name taken", "AlreadyExistsException", "Event destination to-sns already exists", create("s1", "to-sns", def)},
		{"topic of another account", "BadRequestException", "is not a topic of this account",
			create("s1", "d", &types.EventDestinationDefinition{MatchingEventTypes: def.MatchingEventTypes, SnsDestination: &types.SnsDestination{TopicArn: aws.String(otherTopic)}})},
		{"EventBridge", "BadRequestException", "EventBridgeDestination is not supported by Petrel",
			create("s1", "d", &types.EventDestinationDefinition{MatchingEventTypes: def.MatchingEventTypes,
				EventBridgeDestination: &types.EventBridgeDestination{EventBusArn: aws.String("arn:aws:events:us-east-1:1:event-bus/default")}})},
		{"CloudWatch", "BadRequestException", "CloudWatchDestination is not supported by Petrel",
			create("s1", "d", &types.EventDestinationDefinition{MatchingEventTypes: def.MatchingEventTypes,
				CloudWatchDestination: &types.CloudWatchDestination{DimensionConfigurations: []types.CloudWatchDimensionConfiguration{{
					DimensionName: aws.String("n"), DimensionValueSource: types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String("v")}}}})},
		{"Firehose", "BadRequestException", "KinesisFirehoseDestination is not supported by Petrel",
			create("s1", "d", &types.EventDestinationDefinition{MatchingEventTypes: def.MatchingEventTypes,
				KinesisFirehoseDestination: &types.KinesisFirehoseDestination{IamRoleArn: aws.String("arn:aws:iam::1:role/r"), DeliveryStreamArn: aws.String("arn:aws:firehose:us-east-1:1:deliverystream/s")}})},
		{"Pinpoint", "BadRequestException", "PinpointDestination is not supported by Petrel",
			create("s1", "d", &types.EventDestinationDefinition{MatchingEventTypes: def.MatchingEventTypes,
				PinpointDestination: &types.PinpointDestination{ApplicationArn: aws.String("arn:aws:mobiletargeting:us-east-1:1:apps/a")}})},
		{"update missing destination", "NotFoundException", "Event destination nope does not exist in configuration set s1",
			func() error {
				_, err := ses.UpdateConfigurationSetEventDestination(ctx, &sesv2.UpdateConfigurationSetEventDestinationInput{
					ConfigurationSetName: aws.String("s1"), EventDestinationName: aws.String("nope"), EventDestination: def})
				return err
			}()},
		{"delete missing destination", "NotFoundException", "Event destination nope does not exist", func() error {
			_, err := ses.DeleteConfigurationSetEventDestination(ctx, &sesv2.DeleteConfigurationSetEventDestinationInput{
				ConfigurationSetName: aws.String("s1"), EventDestinationName: aws.String("nope")})
			return err
		}()},
		{"get missing set", "NotFoundException", "Configuration set nope does not exist", func() error {
			_, err := ses.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("nope")})
			return err
		}()},
	} {
		if code, msg := apiCode(tc.err); code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}

	for i := 1; i < configset.MaxEventDestinations; i++ {
		if err := create("s1", "d"+strconv.Itoa(i), def); err != nil {
			t.Fatal(err)
		}
	}
	if code, msg := apiCode(create("s1", "eleventh", def)); code != "LimitExceededException" || !strings.Contains(msg, "10 event destinations") {
		t.Errorf("11th destination: %s %q", code, msg)
	}
	if _, err := ses.DeleteConfigurationSetEventDestination(ctx, &sesv2.DeleteConfigurationSetEventDestinationInput{
		ConfigurationSetName: aws.String("s1"), EventDestinationName: aws.String("to-sns")}); err != nil {
		t.Fatal(err)
	}
	if got := get(); len(got) != configset.MaxEventDestinations-1 || slices.ContainsFunc(got, func(d types.EventDestination) bool { return aws.ToString(d.Name) == "to-sns" }) {
		t.Errorf("after Delete: %d destinations", len(got))
	}
}

var secretJSONRE = regexp.MustCompile(`"whsec_[A-Za-z0-9_-]{43}"`)

// TestWebhookDestinationExtension (issue 14): Petrel's WebhookDestination
// through raw signed requests: created with a URL the guard allows, read
// back with its generated secret (golden shape), rotated by an Update with
// RotateSigningSecret (two secrets, newest first); a URL the guard refuses
// is BadRequestException carrying the guard's reason; SigningSecrets
// cannot be given. And the AWS SDK reads Get's answer holding a webhook
// destination without error, the SES destinations beside it intact.
func TestWebhookDestinationExtension(t *testing.T) {
	_, ses, raw := startDestAPI(t, "sqlite")
	ctx := t.Context()
	const path = "/v2/email/configuration-sets/s1/event-destinations"
	status, code, body := raw("POST", path, `{"EventDestinationName":"hook","EventDestination":{"Enabled":true,
		"MatchingEventTypes":["BOUNCE","DELIVERY"],"WebhookDestination":{"Url":"https://hooks.acme.example/petrel"}}}`)
	if status != 200 || string(body) != "{}\n" {
		t.Fatalf("create webhook: %d %s %s", status, code, body)
	}
	if status, code, body := raw("POST", path, `{"EventDestinationName":"sns","EventDestination":{"MatchingEventTypes":["SEND"],
		"SnsDestination":{"TopicArn":"`+acmeTopic+`"}}}`); status != 200 {
		t.Fatalf("create sns: %d %s %s", status, code, body)
	}
	status, _, body = raw("GET", path, "")
	if status != 200 {
		t.Fatalf("get: %d %s", status, body)
	}
	if n := len(secretJSONRE.FindAll(body, -1)); n != 1 {
		t.Errorf("%d secrets in %s, want 1", n, body)
	}
	checkGolden(t, "GetConfigurationSetEventDestinations", secretJSONRE.ReplaceAll(body, []byte(`"whsec_SECRET"`)), strings.NewReplacer())

	// The SDK skips the member it does not know.
	out, err := ses.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("s1")})
	if err != nil {
		t.Fatalf("the SDK does not tolerate WebhookDestination: %v", err)
	}
	if len(out.EventDestinations) != 2 {
		t.Fatalf("SDK sees %d destinations", len(out.EventDestinations))
	}
	h, s := out.EventDestinations[0], out.EventDestinations[1]
	if aws.ToString(h.Name) != "hook" || !h.Enabled || !slices.Equal(h.MatchingEventTypes, []types.EventType{"BOUNCE", "DELIVERY"}) || h.SnsDestination != nil {
		t.Errorf("SDK reads the webhook destination as %+v", h)
	}
	if aws.ToString(s.Name) != "sns" || s.SnsDestination == nil || aws.ToString(s.SnsDestination.TopicArn) != acmeTopic {
		t.Errorf("SDK reads the SNS destination as %+v", s)
	}

	var before getEventDestinationsOutput
	json.Unmarshal(body, &before)
	first := before.EventDestinations[0].WebhookDestination.SigningSecrets
	status, code, body = raw("PUT", path+"/hook", `{"EventDestination":{"Enabled":true,"MatchingEventTypes":["BOUNCE"],
		"WebhookDestination":{"Url":"https://hooks.acme.example/v2","RotateSigningSecret":true}}}`)
	if status != 200 {
		t.Fatalf("rotate: %d %s %s", status, code, body)
	}
	_, _, body = raw("GET", path, "")
	var after getEventDestinationsOutput
	if err := json.Unmarshal(body, &after); err != nil {
		t.Fatal(err)
	}
	wd := after.EventDestinations[0].WebhookDestination
	if wd == nil || aws.ToString(wd.Url) != "https://hooks.acme.example/v2" || len(wd.SigningSecrets) != 2 || wd.SigningSecrets[1] != first[0] || wd.SigningSecrets[0] == first[0] {
		t.Errorf("after rotation: %s, want [new %s]", body, first[0])
	}

	for _, tc := range []struct {
		name, body, code, msg string
	}{
		{"guard refuses", `{"EventDestinationName":"h2","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"http://10.0.0.5/hook"}}}`,
			"BadRequestException", "WebhookDestination.Url is refused: http://10.0.0.5/hook: 10.0.0.5 is a private address"},
		{"secrets given", `{"EventDestinationName":"h2","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"https://hooks.acme.example/","SigningSecrets":["whsec_mine"]}}}`,
			"BadRequestException", "Petrel generates the secrets"},
		{"rotate on create", `{"EventDestinationName":"h2","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"https://hooks.acme.example/","RotateSigningSecret":true}}}`,
			"BadRequestException", "RotateSigningSecret applies to UpdateConfigurationSetEventDestination"},
	} {
		status, code, body := raw("POST", path, tc.body)
		var eb errorBody
		json.Unmarshal(body, &eb)
		if status != 400 || code != tc.code || !strings.Contains(eb.Message, tc.msg) {
			t.Errorf("%s: %d %s %s, want 400 %s containing %q", tc.name, status, code, body, tc.code, tc.msg)
		}
	}
}

// TestEventDestinationBadInput (issue 14): each malformed request is
// refused in SES's shape — status, x-amzn-ErrorType and a message naming
// what is wrong — before anything is stored.
func TestEventDestinationBadInput(t *testing.T) {
	s, _, raw := startDestAPI(t, "sqlite")
	const path = "/v2/email/configuration-sets/s1/event-destinations"
	sns := `"SnsDestination":{"TopicArn":"` + acmeTopic + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"empty body", "POST", path, ``, 400, "BadRequestException", "The request body is empty"},
		{"not JSON", "POST", path, `{`, 400, "SerializationException", "Malformed JSON"},
		{"no name", "POST", path, `{"EventDestination":{"MatchingEventTypes":["SEND"],` + sns + `}}`, 400, "BadRequestException", "EventDestinationName is required"},
		{"no definition", "POST", path, `{"EventDestinationName":"d"}`, 400, "BadRequestException", "EventDestination is required"},
		{"bad name", "POST", path, `{"EventDestinationName":"a b","EventDestination":{"MatchingEventTypes":["SEND"],` + sns + `}}`, 400, "BadRequestException", "EventDestinationName \"a b\" may contain only"},
		{"long name", "POST", path, `{"EventDestinationName":"` + strings.Repeat("x", 65) + `","EventDestination":{"MatchingEventTypes":["SEND"],` + sns + `}}`, 400, "BadRequestException", "must be 1-64 characters"},
		{"no types", "POST", path, `{"EventDestinationName":"d","EventDestination":{` + sns + `}}`, 400, "BadRequestException", "MatchingEventTypes must name at least one"},
		{"unknown type", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["OPENED"],` + sns + `}}`, 400, "BadRequestException", "MatchingEventTypes: \"OPENED\" is not one of SEND, REJECT"},
		{"type twice", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND","SEND"],` + sns + `}}`, 400, "BadRequestException", "SEND is given twice"},
		{"types not a list", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":"SEND",` + sns + `}}`, 400, "BadRequestException", "Invalid type for field EventDestination.MatchingEventTypes"},
		{"Enabled a string", "POST", path, `{"EventDestinationName":"d","EventDestination":{"Enabled":"yes","MatchingEventTypes":["SEND"],` + sns + `}}`, 400, "BadRequestException", "Invalid type for field EventDestination.Enabled"},
		{"no destination", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"]}}`, 400, "BadRequestException", "needs a destination"},
		{"two destinations", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],` + sns + `,"WebhookDestination":{"Url":"https://hooks.acme.example/"}}}`, 400, "BadRequestException", "not both"},
		{"no TopicArn", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"SnsDestination":{}}}`, 400, "BadRequestException", "SnsDestination.TopicArn is required"},
		{"TopicArn not SNS", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"SnsDestination":{"TopicArn":"arn:aws:sqs:us-east-1:1:q"}}}`, 400, "BadRequestException", "is not an SNS topic ARN"},
		{"no Url", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{}}}`, 400, "BadRequestException", "WebhookDestination.Url is required"},
		{"Url not http", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"gopher://hooks.acme.example/"}}}`, 400, "BadRequestException", "is not an http or https URL"},
		{"Url with userinfo", "POST", path, `{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"https://u:p@hooks.acme.example/"}}}`, 400, "BadRequestException", "user information"},
		{"bad set name in path", "POST", "/v2/email/configuration-sets/a.b/event-destinations", `{}`, 400, "BadRequestException", "ConfigurationSetName \"a.b\" may contain only"},
		{"bad destination name in path", "PUT", path + "/a.b", `{"EventDestination":{"MatchingEventTypes":["SEND"],` + sns + `}}`, 400, "BadRequestException", "EventDestinationName \"a.b\""},
		{"update without definition", "PUT", path + "/d", `{}`, 400, "BadRequestException", "EventDestination is required"},
		{"delete bad name", "DELETE", path + "/a.b", ``, 400, "BadRequestException", "EventDestinationName"},
		{"feedback: not a bool", "PUT", "/v2/email/identities/acme.example/feedback", `{"EmailForwardingEnabled":"no"}`, 400, "BadRequestException", "Invalid type for field EmailForwardingEnabled"},
		{"feedback: unknown identity", "PUT", "/v2/email/identities/nope.example/feedback", `{"EmailForwardingEnabled":false}`, 404, "NotFoundException", "Email identity nope.example does not exist"},
		{"default set: bad name", "PUT", "/v2/email/identities/acme.example/configuration-set", `{"ConfigurationSetName":"a b"}`, 400, "BadRequestException", "ConfigurationSetName \"a b\""},
		{"default set: unknown set", "PUT", "/v2/email/identities/acme.example/configuration-set", `{"ConfigurationSetName":"nope"}`, 404, "NotFoundException", "Configuration set nope does not exist"},
		{"default set: unknown identity", "PUT", "/v2/email/identities/nope.example/configuration-set", `{"ConfigurationSetName":"s1"}`, 404, "NotFoundException", "Email identity nope.example does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := raw(tc.method, tc.path, tc.body)
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if status != tc.status || code != tc.code || !strings.Contains(eb.Message, tc.msg) {
				t.Errorf("%d %s %q, want %d %s containing %q", status, code, eb.Message, tc.status, tc.code, tc.msg)
			}
		})
	}
	if ds, err := s.ConfigSets.GetEventDestinations(t.Context(), "acme", "s1"); err != nil || len(ds) != 0 {
		t.Errorf("after refusals: %d destinations stored (err %v)", len(ds), err)
	}
}

// TestIdentityFeedbackAndDefaultSet (issue 14): PutEmailIdentityFeedbackAttributes
// and PutEmailIdentityConfigurationSetAttributes through the SDK, read
// back by GetEmailIdentity (FeedbackForwardingStatus, ConfigurationSetName),
// on both stores: forwarding starts on, turns off (SES v2 accepts it
// without topics) and on; the default set is set and removed; deleting the
// set leaves the identity's default naming it (sending ignores it).
func TestIdentityFeedbackAndDefaultSet(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) {
			_, ses, _ := startDestAPI(t, backend)
			ctx := t.Context()
			id := aws.String("acme.example")
			read := func() (bool, string) {
				t.Helper()
				out, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: id})
				if err != nil {
					t.Fatal(err)
				}
				return out.FeedbackForwardingStatus, aws.ToString(out.ConfigurationSetName)
			}
			if fwd, set := read(); !fwd || set != "" {
				t.Errorf("defaults: forwarding %v, set %q", fwd, set)
			}
			if _, err := ses.PutEmailIdentityFeedbackAttributes(ctx, &sesv2.PutEmailIdentityFeedbackAttributesInput{EmailIdentity: id, EmailForwardingEnabled: false}); err != nil {
				t.Fatal(err)
			}
			if fwd, _ := read(); fwd {
				t.Error("forwarding still on")
			}
			if _, err := ses.PutEmailIdentityFeedbackAttributes(ctx, &sesv2.PutEmailIdentityFeedbackAttributesInput{EmailIdentity: id, EmailForwardingEnabled: true}); err != nil {
				t.Fatal(err)
			}
			if fwd, _ := read(); !fwd {
				t.Error("forwarding not back on")
			}
			if _, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: id, ConfigurationSetName: aws.String("s1")}); err != nil {
				t.Fatal(err)
			}
			if _, set := read(); set != "s1" {
				t.Errorf("ConfigurationSetName %q, want s1", set)
			}
			_, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: id, ConfigurationSetName: aws.String("nope")})
			if code, _ := apiCode(err); code != "NotFoundException" {
				t.Errorf("unknown set: %v", err)
			}
			if _, set := read(); set != "s1" {
				t.Errorf("a refused change changed the set to %q", set)
			}
			if _, err := ses.PutEmailIdentityConfigurationSetAttributes(ctx, &sesv2.PutEmailIdentityConfigurationSetAttributesInput{EmailIdentity: id}); err != nil {
				t.Fatal(err)
			}
			if _, set := read(); set != "" {
				t.Errorf("after removing: %q", set)
			}
			_, err = ses.PutEmailIdentityFeedbackAttributes(ctx, &sesv2.PutEmailIdentityFeedbackAttributesInput{EmailIdentity: aws.String("nope.example")})
			if code, _ := apiCode(err); code != "NotFoundException" {
				t.Errorf("unknown identity: %v", err)
			}

			// CreateEmailIdentity's ConfigurationSetName is the new identity's
			// default; an unknown set creates nothing.
			if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("news@acme.example"),
				ConfigurationSetName: aws.String("s1")}); err != nil {
				t.Fatal(err)
			}
			if out, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("news@acme.example")}); err != nil ||
				aws.ToString(out.ConfigurationSetName) != "s1" || !out.FeedbackForwardingStatus {
				t.Errorf("created with a default set: %+v, %v", out, err)
			}
			_, err = ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("x@acme.example"), ConfigurationSetName: aws.String("nope")})
			if code, _ := apiCode(err); code != "NotFoundException" {
				t.Errorf("create with an unknown set: %v", err)
			}
			if _, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("x@acme.example")}); err == nil {
				t.Error("identity created with an unknown default set")
			}
		})
	}
}

// TestDestinationsNeedCheckers: without Topics or URLs the API refuses
// that kind of destination instead of accepting one it cannot check.
func TestDestinationsNeedCheckers(t *testing.T) {
	s, _, raw := startDestAPI(t, "sqlite")
	s.Topics, s.URLs = nil, nil
	const path = "/v2/email/configuration-sets/s1/event-destinations"
	for body, msg := range map[string]string{
		`{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"SnsDestination":{"TopicArn":"` + acmeTopic + `"}}}`:          "SnsDestination.TopicArn cannot be set: this Petrel serves no SNS topics",
		`{"EventDestinationName":"d","EventDestination":{"MatchingEventTypes":["SEND"],"WebhookDestination":{"Url":"https://hooks.acme.example/"}}}`: "WebhookDestination is not available",
	} {
		status, code, out := raw("POST", path, body)
		if status != http.StatusBadRequest || code != "BadRequestException" || !strings.Contains(string(out), msg) {
			t.Errorf("%d %s %s, want BadRequestException %q", status, code, out, msg)
		}
	}
}

// FuzzEventDestinationDefinition: any Create body is answered without a
// panic, and a definition definitionIn accepts is one configset accepts.
func FuzzEventDestinationDefinition(f *testing.F) {
	for _, s := range []string{
		`{"MatchingEventTypes":["SEND"],"SnsDestination":{"TopicArn":"arn:aws:sns:us-east-1:1:t"}}`,
		`{"Enabled":true,"MatchingEventTypes":["BOUNCE"],"WebhookDestination":{"Url":"https://x.example/","RotateSigningSecret":true}}`,
		`{"EventBridgeDestination":{}}`, `{"MatchingEventTypes":[null]}`, `null`, `{"WebhookDestination":{"SigningSecrets":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in *eventDestinationDefinitionJSON
		if decodeJSON(body, &in) != nil {
			return
		}
		d, _, err := definitionIn("d", in)
		if err == nil {
			if verr := d.Validate(); verr != nil {
				t.Errorf("accepted %s, which configset refuses: %v", body, verr)
			}
		} else if !errors.As(err, new(*Error)) {
			t.Errorf("%s: error %v is not an SES error", body, err)
		}
	})
}
