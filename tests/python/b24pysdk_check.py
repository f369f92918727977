"""Drives a Stagewright host over https with b24pysdk, Bitrix24's official Python SDK, unmodified.

Usage: REQUESTS_CA_BUNDLE=CERT python b24pysdk_check.py DOMAIN USER/TOKEN

DOMAIN is host:port of the host's https listener. Prints one JSON object with what the SDK saw;
the Rust test that runs this script asserts on it.
"""

import json
import sys

from b24pysdk import BitrixWebhook, Client


def main(domain: str, webhook_token: str) -> None:
    client = Client(BitrixWebhook(domain=domain, webhook_token=webhook_token))
    seen = {}

    for first, last in [(1, 50), (51, 70)]:
        adds = {str(i): client.crm.deal.add(fields={"TITLE": f"Deal {i}", "OPPORTUNITY": i * 10})
                for i in range(first, last + 1)}
        ids = client.call_batch(adds).result.result  # keyed "1".."50": an object, as PHP answers
        seen.setdefault("seeded", []).extend(int(i) for i in ids.values())

    added = client.crm.deal.add(fields={"TITLE": "Chairs & desks", "OPPORTUNITY": 1200}).result
    seen["added_id"] = int(added)
    seen["got_title"] = client.crm.deal.get(bitrix_id=added).result["TITLE"]

    seen["first_page"] = len(client.crm.deal.list().result)
    every = list(client.crm.deal.list(select=["ID", "TITLE"]).as_list().result)
    seen["as_list"] = [int(row["ID"]) for row in every]
    fast = list(client.crm.deal.list(select=["ID"], filter={">OPPORTUNITY": 100}).as_list_fast().result)
    seen["as_list_fast"] = [int(row["ID"]) for row in fast]

    named = client.call_batch({
        "one": client.crm.deal.get(bitrix_id=1),
        "missing": client.crm.deal.get(bitrix_id=999999),
    }, halt=False).result
    seen["batch_named_title"] = named.result["one"]["TITLE"]
    seen["batch_named_error"] = named.result_error["missing"]["error"]
    listed = client.call_batch([client.crm.deal.get(bitrix_id=1), client.crm.deal.get(bitrix_id=2)]).result
    # The SDK sends a list as keys "0", "1"; Bitrix24, like PHP, answers keys 0, 1, … as a list.
    seen["batch_listed_shape"] = type(listed.result).__name__
    seen["batch_listed_titles"] = [deal["TITLE"] for deal in listed.result]

    try:
        client.crm.deal.get(bitrix_id=999999).result
        seen["not_found"] = None
    except Exception as error:  # the SDK's typed API error
        seen["not_found"] = type(error).__name__

    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
