"""The SES v1 configuration-set actions (docs/ses-v1.md) through boto3's
"ses" client and `aws ses`: CreateConfigurationSet, DescribeConfigurationSet,
ListConfigurationSets (paging), DeleteConfigurationSet, the event-destination
actions (an SNS destination on a Petrel topic made with boto3's "sns"
client; CloudWatch and Kinesis Firehose refused), the tracking-options
actions, UpdateConfigurationSetSendingEnabled,
UpdateConfigurationSetReputationMetricsEnabled and
PutConfigurationSetDeliveryOptions, with the area's v1 errors.
"""

import datetime
import json

import boto3
import botocore.config

ALL = ["eventDestinations", "trackingOptions", "deliveryOptions", "reputationOptions"]


def _sns(t):
    key, secret = t.keys["default"]
    return boto3.client("sns", endpoint_url=t.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def check(t):
    b = t.boto
    topic = _sns(t).create_topic(Name="v1cs-events")["TopicArn"]

    # Create (boto3 and aws), Describe: SES's defaults in v1's shapes.
    b.create_configuration_set(ConfigurationSet={"Name": "v1cs-a"})
    t.aws("create-configuration-set", "--configuration-set", json.dumps({"Name": "v1cs-b"}))
    bare = b.describe_configuration_set(ConfigurationSetName="v1cs-a")
    t.check("describe-configuration-set without attributes: the name only",
            bare["ConfigurationSet"] == {"Name": "v1cs-a"} and not any(k in bare for k in ("EventDestinations", "TrackingOptions", "DeliveryOptions", "ReputationOptions")), bare)
    d = t.aws("describe-configuration-set", "--configuration-set-name", "v1cs-b", "--configuration-set-attribute-names", *ALL)
    t.check("aws describe-configuration-set: defaults",
            d["ConfigurationSet"] == {"Name": "v1cs-b"} and d.get("EventDestinations") == [] and "TrackingOptions" not in d
            and d["DeliveryOptions"] == {"TlsPolicy": "Optional"}
            and d["ReputationOptions"] == {"SendingEnabled": True, "ReputationMetricsEnabled": False}, d)
    t.boto_error("ConfigurationSetAlreadyExists", b.create_configuration_set, ConfigurationSet={"Name": "v1cs-a"})
    t.aws_error("ConfigurationSetAlreadyExists", "create-configuration-set", "--configuration-set", "Name=v1cs-b")
    t.boto_error("InvalidConfigurationSet", b.create_configuration_set, ConfigurationSet={"Name": "no spaces"})
    t.boto_error("ConfigurationSetDoesNotExist", b.describe_configuration_set, ConfigurationSetName="v1cs-nope")

    # List: MaxItems at a time, in name order (other areas' sets too).
    b.create_configuration_set(ConfigurationSet={"Name": "v1cs-c"})
    names, sizes, kw = [], [], {"MaxItems": 1}
    while True:
        out = b.list_configuration_sets(**kw)
        sizes.append(len(out["ConfigurationSets"]))
        names += [c["Name"] for c in out["ConfigurationSets"]]
        if "NextToken" not in out:
            break
        kw["NextToken"] = out["NextToken"]
    t.check("list-configuration-sets MaxItems=1: one set a page, each once, in name order",
            set(sizes) == {1} and names == sorted(set(names)) and [n for n in names if n.startswith("v1cs-")] == ["v1cs-a", "v1cs-b", "v1cs-c"],
            f"{names} {sizes}")
    out = t.aws("list-configuration-sets")
    t.check("aws list-configuration-sets", [c["Name"] for c in out["ConfigurationSets"] if c["Name"].startswith("v1cs-")] == ["v1cs-a", "v1cs-b", "v1cs-c"], out)

    # Event destinations: v1 spellings; CloudWatch and Firehose refused.
    dest = {"Name": "d1", "Enabled": True, "MatchingEventTypes": ["send", "bounce", "renderingFailure"], "SNSDestination": {"TopicARN": topic}}
    b.create_configuration_set_event_destination(ConfigurationSetName="v1cs-a", EventDestination=dest)
    t.aws("create-configuration-set-event-destination", "--configuration-set-name", "v1cs-b", "--event-destination",
          json.dumps(dict(dest, Name="d2", MatchingEventTypes=["complaint"])))
    ds = b.describe_configuration_set(ConfigurationSetName="v1cs-a", ConfigurationSetAttributeNames=["eventDestinations"])["EventDestinations"]
    t.check("describe-configuration-set EventDestinations", ds == [dest], ds)
    t.boto_error("EventDestinationAlreadyExists", b.create_configuration_set_event_destination, ConfigurationSetName="v1cs-a", EventDestination=dest)
    t.boto_error("ConfigurationSetDoesNotExist", b.create_configuration_set_event_destination, ConfigurationSetName="v1cs-nope", EventDestination=dest)
    t.boto_error("InvalidSNSDestination", b.create_configuration_set_event_destination, ConfigurationSetName="v1cs-a",
                 EventDestination=dict(dest, Name="d9", SNSDestination={"TopicARN": topic + "-nope"}))
    t.boto_error("InvalidCloudWatchDestination", b.create_configuration_set_event_destination, ConfigurationSetName="v1cs-a",
                 EventDestination={"Name": "cw", "Enabled": True, "MatchingEventTypes": ["send"], "CloudWatchDestination": {"DimensionConfigurations": [
                     {"DimensionName": "n", "DimensionValueSource": "messageTag", "DefaultDimensionValue": "v"}]}})
    t.boto_error("InvalidFirehoseDestination", b.create_configuration_set_event_destination, ConfigurationSetName="v1cs-a",
                 EventDestination={"Name": "fh", "Enabled": True, "MatchingEventTypes": ["send"], "KinesisFirehoseDestination": {
                     "IAMRoleARN": "arn:aws:iam::1:role/r", "DeliveryStreamARN": "arn:aws:firehose:us-east-1:1:deliverystream/s"}})
    upd = dict(dest, Enabled=False, MatchingEventTypes=["delivery"])
    b.update_configuration_set_event_destination(ConfigurationSetName="v1cs-a", EventDestination=upd)
    t.aws("update-configuration-set-event-destination", "--configuration-set-name", "v1cs-b", "--event-destination",
          json.dumps(dict(dest, Name="d2", MatchingEventTypes=["reject", "open"])))
    d = b.describe_configuration_set(ConfigurationSetName="v1cs-b", ConfigurationSetAttributeNames=["eventDestinations"])
    t.check("aws update-configuration-set-event-destination → describe",
            d["EventDestinations"] == [dict(dest, Name="d2", MatchingEventTypes=["reject", "open"])], d)
    ds = b.describe_configuration_set(ConfigurationSetName="v1cs-a", ConfigurationSetAttributeNames=["eventDestinations"])["EventDestinations"]
    t.check("boto3 update_configuration_set_event_destination → describe", ds == [upd], ds)
    t.boto_error("EventDestinationDoesNotExist", b.update_configuration_set_event_destination, ConfigurationSetName="v1cs-a",
                 EventDestination=dict(dest, Name="nope"))
    b.delete_configuration_set_event_destination(ConfigurationSetName="v1cs-a", EventDestinationName="d1")
    t.aws("delete-configuration-set-event-destination", "--configuration-set-name", "v1cs-b", "--event-destination-name", "d2")
    t.aws_error("EventDestinationDoesNotExist", "delete-configuration-set-event-destination", "--configuration-set-name", "v1cs-b",
                "--event-destination-name", "d2")

    # Tracking options.
    b.create_configuration_set_tracking_options(ConfigurationSetName="v1cs-a", TrackingOptions={"CustomRedirectDomain": "track.v1.example"})
    t.aws("create-configuration-set-tracking-options", "--configuration-set-name", "v1cs-b", "--tracking-options", "CustomRedirectDomain=t.v1.example")
    t.boto_error("TrackingOptionsAlreadyExistsException", b.create_configuration_set_tracking_options, ConfigurationSetName="v1cs-a",
                 TrackingOptions={"CustomRedirectDomain": "track.v1.example"})
    b.update_configuration_set_tracking_options(ConfigurationSetName="v1cs-a", TrackingOptions={"CustomRedirectDomain": "t2.v1.example"})
    t.aws("update-configuration-set-tracking-options", "--configuration-set-name", "v1cs-b", "--tracking-options", "CustomRedirectDomain=t3.v1.example")
    tr = b.describe_configuration_set(ConfigurationSetName="v1cs-a", ConfigurationSetAttributeNames=["trackingOptions"]).get("TrackingOptions")
    t.check("describe-configuration-set TrackingOptions", tr == {"CustomRedirectDomain": "t2.v1.example"}, tr)
    b.delete_configuration_set_tracking_options(ConfigurationSetName="v1cs-a")
    t.aws("delete-configuration-set-tracking-options", "--configuration-set-name", "v1cs-b")
    d = b.describe_configuration_set(ConfigurationSetName="v1cs-b", ConfigurationSetAttributeNames=["trackingOptions"])
    t.check("tracking options deleted", "TrackingOptions" not in d, d)
    t.boto_error("TrackingOptionsDoesNotExistException", b.update_configuration_set_tracking_options, ConfigurationSetName="v1cs-a",
                 TrackingOptions={"CustomRedirectDomain": "t2.v1.example"})
    t.boto_error("TrackingOptionsDoesNotExistException", b.delete_configuration_set_tracking_options, ConfigurationSetName="v1cs-b")

    # Sending, reputation metrics, delivery options.
    b.update_configuration_set_sending_enabled(ConfigurationSetName="v1cs-a", Enabled=False)
    t.aws("update-configuration-set-sending-enabled", "--configuration-set-name", "v1cs-b", "--no-enabled")
    b.update_configuration_set_reputation_metrics_enabled(ConfigurationSetName="v1cs-a", Enabled=True)
    t.aws("update-configuration-set-reputation-metrics-enabled", "--configuration-set-name", "v1cs-b", "--enabled")
    b.put_configuration_set_delivery_options(ConfigurationSetName="v1cs-a", DeliveryOptions={"TlsPolicy": "Require"})
    t.aws("put-configuration-set-delivery-options", "--configuration-set-name", "v1cs-b", "--delivery-options", "TlsPolicy=Require")
    for name in ("v1cs-a", "v1cs-b"):
        d = b.describe_configuration_set(ConfigurationSetName=name, ConfigurationSetAttributeNames=ALL)
        t.check(f"{name}: sending off, metrics on, TLS required",
                d["ReputationOptions"] == {"SendingEnabled": False, "ReputationMetricsEnabled": True} and d["DeliveryOptions"] == {"TlsPolicy": "Require"}, d)
    got = t.sesv2.get_configuration_set(ConfigurationSetName="v1cs-a")
    t.check("sesv2 sees v1's options", got["SendingOptions"]["SendingEnabled"] is False and got["DeliveryOptions"]["TlsPolicy"] == "REQUIRE", got)
    t.boto_error("InvalidDeliveryOptions", b.put_configuration_set_delivery_options, ConfigurationSetName="v1cs-a", DeliveryOptions={"TlsPolicy": "REQUIRE"})
    t.boto_error("ConfigurationSetDoesNotExist", b.update_configuration_set_sending_enabled, ConfigurationSetName="v1cs-nope", Enabled=True)
    t.boto_error("ConfigurationSetDoesNotExist", b.update_configuration_set_reputation_metrics_enabled, ConfigurationSetName="v1cs-nope", Enabled=True)

    # A fresh start set through sesv2 is v1's LastFreshStart (a timestamp).
    fresh = datetime.datetime(2024, 5, 1, 12, 30, 15, tzinfo=datetime.timezone.utc)
    t.sesv2.create_configuration_set(ConfigurationSetName="v1cs-fresh", ReputationOptions={"LastFreshStart": fresh})
    r = b.describe_configuration_set(ConfigurationSetName="v1cs-fresh", ConfigurationSetAttributeNames=["reputationOptions"])["ReputationOptions"]
    t.check("describe-configuration-set LastFreshStart", r.get("LastFreshStart") == fresh and r["SendingEnabled"] is True, r)
    b.delete_configuration_set(ConfigurationSetName="v1cs-fresh")

    # Delete.
    b.delete_configuration_set(ConfigurationSetName="v1cs-c")
    t.aws("delete-configuration-set", "--configuration-set-name", "v1cs-b")
    t.aws_error("ConfigurationSetDoesNotExist", "delete-configuration-set", "--configuration-set-name", "v1cs-c")
    b.delete_configuration_set(ConfigurationSetName="v1cs-a")
