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
	"github.com/aws/aws-sdk-go-v2/service/ses"
	v1types "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/petrelmail/petrel/internal/store"
)

// TestV1ConfigSets: every v1 configuration-set action through
// aws-sdk-go-v2 service/ses on both stores — the shapes the SDK decodes,
// the v1 spellings of event types and TLS policies, what v2 sees of what
// v1 did and the reverse, paging, and each v1 error of the area.
func TestV1ConfigSets(t *testing.T) {
	for _, backend := range store.Backends() {
		t.Run(backend, func(t *testing.T) { testV1ConfigSets(t, backend) })
	}
}

func testV1ConfigSets(t *testing.T, backend string) {
	srv, s, tenants, _ := startAPIOn(t, backend, 256<<20, "acme", "other")
	s.ConfigSets.SetSealer(s.Accounts)
	s.Topics = testTopics{acmeTopic: "acme", otherTopic: "other"}
	s.URLs = testURLs{"hooks.acme.example"}
	ctx := t.Context()
	v1 := v1Client(srv.URL, tenants["acme"])
	v2 := sesClient(srv.URL, tenants["acme"], 1)
	all := []v1types.ConfigurationSetAttribute{"eventDestinations", "trackingOptions", "deliveryOptions", "reputationOptions"}
	describe := func(name string) *ses.DescribeConfigurationSetOutput {
		t.Helper()
		out, err := v1.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String(name), ConfigurationSetAttributeNames: all})
		if err != nil {
			t.Fatalf("DescribeConfigurationSet %s: %v", name, err)
		}
		return out
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// CreateConfigurationSet, then Describe: SES's defaults in v1's shapes.
	_, err := v1.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &v1types.ConfigurationSet{Name: aws.String("cs1")}})
	must("CreateConfigurationSet", err)
	bare, err := v1.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs1")})
	must("DescribeConfigurationSet", err)
	if aws.ToString(bare.ConfigurationSet.Name) != "cs1" || bare.EventDestinations != nil || bare.TrackingOptions != nil || bare.DeliveryOptions != nil || bare.ReputationOptions != nil {
		t.Errorf("Describe without attributes: %+v", bare)
	}
	d := describe("cs1")
	if aws.ToString(d.ConfigurationSet.Name) != "cs1" || len(d.EventDestinations) != 0 || d.TrackingOptions != nil ||
		d.DeliveryOptions == nil || d.DeliveryOptions.TlsPolicy != v1types.TlsPolicyOptional ||
		d.ReputationOptions == nil || !d.ReputationOptions.SendingEnabled || d.ReputationOptions.ReputationMetricsEnabled || d.ReputationOptions.LastFreshStart != nil {
		t.Errorf("Describe of a new set: %+v %+v %+v", d, d.DeliveryOptions, d.ReputationOptions)
	}
	if got, err := v2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("cs1")}); err != nil || !got.SendingOptions.SendingEnabled {
		t.Errorf("v2 GetConfigurationSet of a v1 set: %+v %v", got, err)
	}

	// A fresh start set through v2 is v1's LastFreshStart.
	fresh := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	_, err = v2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("cs2"),
		ReputationOptions: &types.ReputationOptions{ReputationMetricsEnabled: true, LastFreshStart: &fresh}})
	must("v2 CreateConfigurationSet", err)
	if r := describe("cs2").ReputationOptions; !r.ReputationMetricsEnabled || r.LastFreshStart == nil || !r.LastFreshStart.Equal(fresh) {
		t.Errorf("cs2 ReputationOptions: %+v, want metrics on, fresh start %s", r, fresh)
	}

	// ListConfigurationSets: MaxItems at a time, in name order.
	for _, n := range []string{"cs3", "cs4", "cs5"} {
		_, err := v1.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &v1types.ConfigurationSet{Name: aws.String(n)}})
		must("CreateConfigurationSet "+n, err)
	}
	var names []string
	var pages int
	var token *string
	for {
		out, err := v1.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{MaxItems: aws.Int32(2), NextToken: token})
		must("ListConfigurationSets", err)
		pages++
		if len(out.ConfigurationSets) > 2 {
			t.Fatalf("page of %d sets, MaxItems 2", len(out.ConfigurationSets))
		}
		for _, cs := range out.ConfigurationSets {
			names = append(names, aws.ToString(cs.Name))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if want := []string{"cs1", "cs2", "cs3", "cs4", "cs5"}; !slices.Equal(names, want) || pages != 3 {
		t.Errorf("ListConfigurationSets: %v in %d pages, want %v in 3", names, pages, want)
	}
	if out, err := v1.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{}); err != nil || len(out.ConfigurationSets) != 5 || out.NextToken != nil {
		t.Errorf("ListConfigurationSets without MaxItems: %+v %v", out, err)
	}
	if out, err := v1Client(srv.URL, tenants["other"]).ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{}); err != nil || out.ConfigurationSets == nil || len(out.ConfigurationSets) != 0 {
		t.Errorf("ListConfigurationSets of another account: %+v %v", out, err)
	}

	// Event destinations, in v1 spelling; v2 sees them in its own.
	snsDest := func(name string, enabled bool, types ...v1types.EventType) *v1types.EventDestination {
		return &v1types.EventDestination{Name: aws.String(name), Enabled: enabled, MatchingEventTypes: types,
			SNSDestination: &v1types.SNSDestination{TopicARN: aws.String(acmeTopic)}}
	}
	_, err = v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"),
		EventDestination: snsDest("d1", true, "send", "bounce", "renderingFailure", "deliveryDelay")})
	must("CreateConfigurationSetEventDestination", err)
	ds := describe("cs1").EventDestinations
	if len(ds) != 1 || aws.ToString(ds[0].Name) != "d1" || !ds[0].Enabled || ds[0].SNSDestination == nil || aws.ToString(ds[0].SNSDestination.TopicARN) != acmeTopic ||
		!slices.Equal(ds[0].MatchingEventTypes, []v1types.EventType{"send", "bounce", "renderingFailure", "deliveryDelay"}) {
		t.Errorf("EventDestinations: %+v", ds)
	}
	v2ds, err := v2.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String("cs1")})
	must("v2 GetConfigurationSetEventDestinations", err)
	if len(v2ds.EventDestinations) != 1 || !slices.Equal(v2ds.EventDestinations[0].MatchingEventTypes, []types.EventType{"SEND", "BOUNCE", "RENDERING_FAILURE", "DELIVERY_DELAY"}) {
		t.Errorf("v2 sees %+v", v2ds.EventDestinations)
	}
	_, err = v1.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"),
		EventDestination: snsDest("d1", false, "delivery", "complaint")})
	must("UpdateConfigurationSetEventDestination", err)
	if ds := describe("cs1").EventDestinations; len(ds) != 1 || ds[0].Enabled || !slices.Equal(ds[0].MatchingEventTypes, []v1types.EventType{"delivery", "complaint"}) {
		t.Errorf("EventDestinations after Update: %+v", ds)
	}
	// A webhook destination (v2's extension) is written as
	// WebhookDestination, which the SDK skips: the rest decodes.
	status, body := v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"CreateConfigurationSetEventDestination"}, "ConfigurationSetName": {"cs2"}})
	if status != 400 || parseV1Error(t, body).Error.Code != "ValidationError" {
		t.Errorf("CreateConfigurationSetEventDestination without EventDestination: %d %s", status, body)
	}
	if st, _, b := signedCall(t, srv, tenants["acme"], "POST", "/v2/email/configuration-sets/cs2/event-destinations",
		[]byte(`{"EventDestinationName":"hook","EventDestination":{"Enabled":true,"MatchingEventTypes":["BOUNCE"],"WebhookDestination":{"Url":"https://hooks.acme.example/ses"}}}`)); st != 200 {
		t.Fatalf("v2 webhook destination: %d %s", st, b)
	}
	if ds := describe("cs2").EventDestinations; len(ds) != 1 || aws.ToString(ds[0].Name) != "hook" || !ds[0].Enabled || ds[0].SNSDestination != nil ||
		!slices.Equal(ds[0].MatchingEventTypes, []v1types.EventType{"bounce"}) {
		t.Errorf("webhook destination through v1: %+v", ds)
	}
	_, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"DescribeConfigurationSet"}, "ConfigurationSetName": {"cs2"},
		"ConfigurationSetAttributeNames.member.1": {"eventDestinations"}})
	if !strings.Contains(string(body), "<MatchingEventTypes><member>bounce</member></MatchingEventTypes><WebhookDestination><Url>https://hooks.acme.example/ses</Url></WebhookDestination>") ||
		strings.Contains(string(body), "whsec_") {
		t.Errorf("raw DescribeConfigurationSet: %s", body)
	}
	for i := 2; i <= 10; i++ {
		_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"),
			EventDestination: snsDest(fmt.Sprintf("d%dx", i), true, "send")})
		must("CreateConfigurationSetEventDestination", err)
	}
	_, err = v1.DeleteConfigurationSetEventDestination(ctx, &ses.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"), EventDestinationName: aws.String("d2x")})
	must("DeleteConfigurationSetEventDestination", err)
	if ds := describe("cs1").EventDestinations; len(ds) != 9 || slices.ContainsFunc(ds, func(d v1types.EventDestination) bool { return aws.ToString(d.Name) == "d2x" }) {
		t.Errorf("after Delete: %d destinations", len(ds))
	}
	_, err = v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"),
		EventDestination: snsDest("d2x", true, "send")})
	must("CreateConfigurationSetEventDestination d2x again", err)

	// Tracking options: v1 keeps v2's HttpsPolicy, which it cannot see.
	_, err = v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs3"),
		TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("track.acme.example")}})
	must("CreateConfigurationSetTrackingOptions", err)
	if tr := describe("cs3").TrackingOptions; tr == nil || aws.ToString(tr.CustomRedirectDomain) != "track.acme.example" {
		t.Errorf("TrackingOptions: %+v", tr)
	}
	_, err = v2.PutConfigurationSetTrackingOptions(ctx, &sesv2.PutConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs3"),
		CustomRedirectDomain: aws.String("track.acme.example"), HttpsPolicy: types.HttpsPolicyRequire})
	must("v2 PutConfigurationSetTrackingOptions", err)
	_, err = v1.UpdateConfigurationSetTrackingOptions(ctx, &ses.UpdateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs3"),
		TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("t2.acme.example")}})
	must("UpdateConfigurationSetTrackingOptions", err)
	if got, err := v2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("cs3")}); err != nil || got.TrackingOptions == nil ||
		aws.ToString(got.TrackingOptions.CustomRedirectDomain) != "t2.acme.example" || got.TrackingOptions.HttpsPolicy != types.HttpsPolicyRequire {
		t.Errorf("v2 after v1 Update: %+v %v", got, err)
	}
	_, err = v1.DeleteConfigurationSetTrackingOptions(ctx, &ses.DeleteConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs3")})
	must("DeleteConfigurationSetTrackingOptions", err)
	if tr := describe("cs3").TrackingOptions; tr != nil {
		t.Errorf("TrackingOptions after Delete: %+v", tr)
	}

	// Sending, reputation metrics, delivery options (v2's
	// MaxDeliverySeconds kept).
	_, err = v1.UpdateConfigurationSetSendingEnabled(ctx, &ses.UpdateConfigurationSetSendingEnabledInput{ConfigurationSetName: aws.String("cs4"), Enabled: false})
	must("UpdateConfigurationSetSendingEnabled", err)
	_, err = v1.UpdateConfigurationSetReputationMetricsEnabled(ctx, &ses.UpdateConfigurationSetReputationMetricsEnabledInput{ConfigurationSetName: aws.String("cs4"), Enabled: true})
	must("UpdateConfigurationSetReputationMetricsEnabled", err)
	_, err = v2.PutConfigurationSetDeliveryOptions(ctx, &sesv2.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("cs4"), MaxDeliverySeconds: aws.Int64(3600)})
	must("v2 PutConfigurationSetDeliveryOptions", err)
	_, err = v1.PutConfigurationSetDeliveryOptions(ctx, &ses.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("cs4"),
		DeliveryOptions: &v1types.DeliveryOptions{TlsPolicy: v1types.TlsPolicyRequire}})
	must("PutConfigurationSetDeliveryOptions", err)
	if d := describe("cs4"); d.ReputationOptions.SendingEnabled || !d.ReputationOptions.ReputationMetricsEnabled || d.DeliveryOptions.TlsPolicy != v1types.TlsPolicyRequire {
		t.Errorf("cs4: %+v %+v", d.ReputationOptions, d.DeliveryOptions)
	}
	if got, err := v2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("cs4")}); err != nil ||
		got.SendingOptions.SendingEnabled || !got.ReputationOptions.ReputationMetricsEnabled ||
		got.DeliveryOptions.TlsPolicy != types.TlsPolicyRequire || aws.ToInt64(got.DeliveryOptions.MaxDeliverySeconds) != 3600 {
		t.Errorf("v2 GetConfigurationSet cs4: %+v %v", got, err)
	}
	_, err = v1.UpdateConfigurationSetSendingEnabled(ctx, &ses.UpdateConfigurationSetSendingEnabledInput{ConfigurationSetName: aws.String("cs4"), Enabled: true})
	must("UpdateConfigurationSetSendingEnabled", err)
	_, err = v1.PutConfigurationSetDeliveryOptions(ctx, &ses.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("cs4")})
	must("PutConfigurationSetDeliveryOptions without options", err)
	if d := describe("cs4"); !d.ReputationOptions.SendingEnabled || d.DeliveryOptions.TlsPolicy != v1types.TlsPolicyOptional {
		t.Errorf("cs4 after: %+v %+v", d.ReputationOptions, d.DeliveryOptions)
	}
	// The actions without an output have no Result element.
	status, body = v1Post(t, srv, tenants["acme"], "ses", url.Values{"Action": {"UpdateConfigurationSetReputationMetricsEnabled"}, "ConfigurationSetName": {"cs4"}, "Enabled": {"false"}})
	if status != 200 || strings.Contains(string(body), "Result") || !strings.Contains(string(body), "<UpdateConfigurationSetReputationMetricsEnabledResponse") {
		t.Errorf("UpdateConfigurationSetReputationMetricsEnabled: %d %s", status, body)
	}

	// DeleteConfigurationSet.
	_, err = v1.DeleteConfigurationSet(ctx, &ses.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("cs5")})
	must("DeleteConfigurationSet", err)
	if _, err := v2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("cs5")}); err == nil {
		t.Error("cs5 is still there")
	}

	// Each v1 error of the area.
	cw := &v1types.EventDestination{Name: aws.String("cw"), Enabled: true, MatchingEventTypes: []v1types.EventType{"send"},
		CloudWatchDestination: &v1types.CloudWatchDestination{DimensionConfigurations: []v1types.CloudWatchDimensionConfiguration{{
			DimensionName: aws.String("n"), DimensionValueSource: v1types.DimensionValueSourceMessageTag, DefaultDimensionValue: aws.String("v")}}}}
	fh := &v1types.EventDestination{Name: aws.String("fh"), Enabled: true, MatchingEventTypes: []v1types.EventType{"send"},
		KinesisFirehoseDestination: &v1types.KinesisFirehoseDestination{IAMRoleARN: aws.String("arn:aws:iam::1:role/r"), DeliveryStreamARN: aws.String("arn:aws:firehose:us-east-1:1:deliverystream/s")}}
	otherSNS := snsDest("o", true, "send")
	otherSNS.SNSDestination.TopicARN = aws.String(otherTopic)
	other := v1Client(srv.URL, tenants["other"])
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
		code string
	}{
		{"Create exists", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &v1types.ConfigurationSet{Name: aws.String("cs1")}})
			return err
		}, "ConfigurationSetAlreadyExists"},
		{"Create bad name", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSet(ctx, &ses.CreateConfigurationSetInput{ConfigurationSet: &v1types.ConfigurationSet{Name: aws.String("no spaces")}})
			return err
		}, "InvalidConfigurationSet"},
		{"Describe missing", func(ctx context.Context) error {
			_, err := v1.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("nope")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"Describe another account's", func(ctx context.Context) error {
			_, err := other.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs1")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"Describe bad attribute", func(ctx context.Context) error {
			_, err := v1.DescribeConfigurationSet(ctx, &ses.DescribeConfigurationSetInput{ConfigurationSetName: aws.String("cs1"), ConfigurationSetAttributeNames: []v1types.ConfigurationSetAttribute{"sendingOptions"}})
			return err
		}, "InvalidParameterValue"},
		{"Delete missing", func(ctx context.Context) error {
			_, err := v1.DeleteConfigurationSet(ctx, &ses.DeleteConfigurationSetInput{ConfigurationSetName: aws.String("cs5")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"List MaxItems", func(ctx context.Context) error {
			_, err := v1.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{MaxItems: aws.Int32(1001)})
			return err
		}, "InvalidParameterValue"},
		{"List NextToken", func(ctx context.Context) error {
			_, err := v1.ListConfigurationSets(ctx, &ses.ListConfigurationSetsInput{NextToken: aws.String("bogus")})
			return err
		}, "InvalidParameterValue"},
		{"destination exists", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs2"), EventDestination: snsDest("hook", true, "send")})
			return err
		}, "EventDestinationAlreadyExists"},
		{"destination limit", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"), EventDestination: snsDest("d11", true, "send")})
			return err
		}, "LimitExceeded"},
		{"destination in a missing set", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("nope"), EventDestination: snsDest("d", true, "send")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"another account's topic", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs2"), EventDestination: otherSNS})
			return err
		}, "InvalidSNSDestination"},
		{"CloudWatch", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs2"), EventDestination: cw})
			return err
		}, "InvalidCloudWatchDestination"},
		{"Firehose", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs2"), EventDestination: fh})
			return err
		}, "InvalidFirehoseDestination"},
		{"v2 event type", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetEventDestination(ctx, &ses.CreateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs2"), EventDestination: snsDest("d", true, "SEND")})
			return err
		}, "InvalidParameterValue"},
		{"Update missing destination", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"), EventDestination: snsDest("nope", true, "send")})
			return err
		}, "EventDestinationDoesNotExist"},
		{"Update in a missing set", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("nope"), EventDestination: snsDest("d1", true, "send")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"Update to CloudWatch", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetEventDestination(ctx, &ses.UpdateConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"), EventDestination: &v1types.EventDestination{
				Name: aws.String("d1"), MatchingEventTypes: cw.MatchingEventTypes, CloudWatchDestination: cw.CloudWatchDestination}})
			return err
		}, "InvalidCloudWatchDestination"},
		{"Delete missing destination", func(ctx context.Context) error {
			_, err := v1.DeleteConfigurationSetEventDestination(ctx, &ses.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("cs1"), EventDestinationName: aws.String("nope")})
			return err
		}, "EventDestinationDoesNotExist"},
		{"Delete destination of a missing set", func(ctx context.Context) error {
			_, err := v1.DeleteConfigurationSetEventDestination(ctx, &ses.DeleteConfigurationSetEventDestinationInput{ConfigurationSetName: aws.String("nope"), EventDestinationName: aws.String("d1")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"tracking options exist", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs1"),
				TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("a.acme.example")}})
			if err != nil {
				return err
			}
			_, err = v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs1"),
				TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("b.acme.example")}})
			return err
		}, "TrackingOptionsAlreadyExistsException"},
		{"tracking options of a missing set", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("nope"),
				TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("a.acme.example")}})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"bad redirect domain", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs2"),
				TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("not a domain")}})
			return err
		}, "InvalidTrackingOptions"},
		{"tracking options without a domain", func(ctx context.Context) error {
			_, err := v1.CreateConfigurationSetTrackingOptions(ctx, &ses.CreateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs2"),
				TrackingOptions: &v1types.TrackingOptions{}})
			return err
		}, "InvalidTrackingOptions"},
		{"Update missing tracking options", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetTrackingOptions(ctx, &ses.UpdateConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs2"),
				TrackingOptions: &v1types.TrackingOptions{CustomRedirectDomain: aws.String("a.acme.example")}})
			return err
		}, "TrackingOptionsDoesNotExistException"},
		{"Delete missing tracking options", func(ctx context.Context) error {
			_, err := v1.DeleteConfigurationSetTrackingOptions(ctx, &ses.DeleteConfigurationSetTrackingOptionsInput{ConfigurationSetName: aws.String("cs2")})
			return err
		}, "TrackingOptionsDoesNotExistException"},
		{"sending of a missing set", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetSendingEnabled(ctx, &ses.UpdateConfigurationSetSendingEnabledInput{ConfigurationSetName: aws.String("nope"), Enabled: true})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"reputation of a missing set", func(ctx context.Context) error {
			_, err := v1.UpdateConfigurationSetReputationMetricsEnabled(ctx, &ses.UpdateConfigurationSetReputationMetricsEnabledInput{ConfigurationSetName: aws.String("nope"), Enabled: true})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"delivery options of a missing set", func(ctx context.Context) error {
			_, err := v1.PutConfigurationSetDeliveryOptions(ctx, &ses.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("nope")})
			return err
		}, "ConfigurationSetDoesNotExist"},
		{"bad TlsPolicy", func(ctx context.Context) error {
			_, err := v1.PutConfigurationSetDeliveryOptions(ctx, &ses.PutConfigurationSetDeliveryOptionsInput{ConfigurationSetName: aws.String("cs1"),
				DeliveryOptions: &v1types.DeliveryOptions{TlsPolicy: "REQUIRE"}})
			return err
		}, "InvalidDeliveryOptions"},
	} {
		if code, msg := v1Code(c.call(ctx)); code != c.code || msg == "" {
			t.Errorf("%s: %s %q, want %s", c.name, code, msg, c.code)
		}
	}
	// Nothing the refusals touched changed.
	if d := describe("cs2"); len(d.EventDestinations) != 1 || d.TrackingOptions != nil {
		t.Errorf("cs2 after the refusals: %+v", d)
	}
	if d := describe("cs1"); len(d.EventDestinations) != 10 || aws.ToString(d.TrackingOptions.CustomRedirectDomain) != "a.acme.example" || d.DeliveryOptions.TlsPolicy != v1types.TlsPolicyOptional {
		t.Errorf("cs1 after the refusals: %+v", d)
	}
}
