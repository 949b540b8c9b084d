"""Use the account suppression list of the Petrel API at sys.argv[1] with
boto3's sesv2 client: put two addresses, get one (whose response carries
Petrel's extension members), list with Reason, StartDate and EndDate
(datetimes, which botocore writes into the query string), two per page
following NextToken, and delete one. Print as JSON what came back and the
request line of each ListSuppressedDestinations. Credentials come from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."""
import datetime
import json
import sys
from urllib.parse import urlsplit

import boto3

client = boto3.client("sesv2", region_name="us-east-1", endpoint_url=sys.argv[1])
requests = []


def record(request, **_):
    url = urlsplit(request.url)
    requests.append(f"{request.method} {url.path}?{url.query}")


client.meta.events.register("before-send.sesv2.ListSuppressedDestinations", record)
client.put_suppressed_destination(EmailAddress="Jane+tag@Example.com", Reason="BOUNCE")
client.put_suppressed_destination(EmailAddress="bob@example.com", Reason="COMPLAINT")
got = client.get_suppressed_destination(EmailAddress="jane+tag@example.com")["SuppressedDestination"]
start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
listed = []
args = {"Reasons": ["BOUNCE", "COMPLAINT"], "StartDate": start, "EndDate": end, "PageSize": 2}
while True:
    page = client.list_suppressed_destinations(**args)
    listed += [d["EmailAddress"] for d in page["SuppressedDestinationSummaries"]]
    if "NextToken" not in page:
        break
    args["NextToken"] = page["NextToken"]
client.delete_suppressed_destination(EmailAddress="jane+tag@example.com")
json.dump({"Get": {"EmailAddress": got["EmailAddress"], "Reason": got["Reason"],
                   "LastUpdateTime": got["LastUpdateTime"].isoformat()},
           "Listed": listed, "Requests": requests}, sys.stdout)
