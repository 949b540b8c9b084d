"""List the email identities of the Petrel API at sys.argv[1] with boto3's
sesv2 client (botocore has no paginator for it), three per page, following
NextToken, and print as JSON the pages' identity names and the request
line of each request boto3 sent. Credentials come from AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY."""
import json
import sys
from urllib.parse import urlsplit

import boto3

client = boto3.client("sesv2", region_name="us-east-1", endpoint_url=sys.argv[1])
requests = []


def record(request, **_):
    url = urlsplit(request.url)
    requests.append(f"{request.method} {url.path}?{url.query}")


client.meta.events.register("before-send.sesv2.ListEmailIdentities", record)
pages = []
args = {"PageSize": 3}
while True:
    page = client.list_email_identities(**args)
    pages.append([i["IdentityName"] for i in page["EmailIdentities"]])
    if "NextToken" not in page:
        break
    args["NextToken"] = page["NextToken"]
json.dump({"Requests": requests, "Pages": pages}, sys.stdout)
