"""Drives a Stagewright host with fast-bitrix24, an unmodified Bitrix24 REST client from PyPI.

Usage: python bitrix24_client_check.py WEBHOOK_URL

Prints one JSON object with what the library saw; the Rust test that runs this script asserts
on it and on the host's own state.
"""

import json
import sys
import warnings

import aiohttp
from fast_bitrix24 import Bitrix
from fast_bitrix24.server_response import ErrorInServerResponseException


def main(webhook: str) -> None:
    warnings.simplefilter("ignore")
    b = Bitrix(webhook, verbose=False, request_pool_size=1000, requests_per_second=1000.0)
    seen = {}

    deal_id = b.call("crm.deal.add", {"fields": {"TITLE": "A & b+c #1", "OPPORTUNITY": "100"}})
    seen["added_id"] = deal_id
    deal = b.call("crm.deal.get", {"ID": deal_id}, raw=True)["result"]
    seen["got_title"] = deal["TITLE"]
    seen["updated"] = b.call("crm.deal.update", {"ID": deal_id, "fields": {"TITLE": "Renamed"}})
    seen["title_after_update"] = b.call("crm.deal.get", {"ID": deal_id}, raw=True)["result"]["TITLE"]
    seen["deleted"] = b.call("crm.deal.delete", {"ID": deal_id})

    ids = b.call(
        "crm.deal.add",
        [{"fields": {"TITLE": f"Deal {i}", "OPPORTUNITY": str(i)}} for i in range(1, 131)],
    )
    seen["bulk_added"] = len(ids)
    seen["bulk_distinct_ids"] = len(set(ids))
    # The library returns bulk results in the order its batches completed, not the input order.
    seen["some_bulk_title"] = b.call("crm.deal.get", {"ID": ids[0]}, raw=True)["result"]["TITLE"]

    every = b.get_all("crm.deal.list", {"filter": {">OPPORTUNITY": 5}, "select": ["ID", "TITLE"]})
    seen["get_all_count"] = len(every)
    seen["get_all_distinct_ids"] = len({row["ID"] for row in every})

    rows, start, pages = [], 0, 0
    while True:
        page = b.call(
            "crm.deal.list",
            {"filter": {">=OPPORTUNITY": 10}, "order": {"OPPORTUNITY": "DESC"},
             "select": ["ID", "OPPORTUNITY"], "start": start},
            raw=True,
        )
        rows += page["result"]
        pages += 1
        if "next" not in page:
            break
        start = page["next"]
    seen["paged_count"] = len(rows)
    seen["paged_pages"] = pages
    seen["paged_first_amount"] = rows[0]["OPPORTUNITY"]
    seen["paged_last_amount"] = rows[-1]["OPPORTUNITY"]

    batch = b.call_batch({
        "halt": 0,
        "cmd": {
            "some": f"crm.deal.get?ID={ids[0]}",
            "listed": "crm.deal.list?filter[%3EOPPORTUNITY]=125&select[0]=ID&select[1]=TITLE",
        },
    })
    seen["batch_some_title"] = batch["some"]["TITLE"]
    seen["batch_listed"] = sorted(row["TITLE"] for row in batch["listed"])

    try:
        b.call("crm.deal.add", {"fields": {"NO_SUCH_FIELD": 1}})
        seen["bad_field"] = None
    except ErrorInServerResponseException as e:
        seen["bad_field"] = list(e.args[0].values())[0]

    try:
        b.call("crm.no.such", {"x": 1}, raw=True)
        seen["unknown_method_status"] = None
    except aiohttp.ClientResponseError as e:
        seen["unknown_method_status"] = e.status

    wrong = webhook.rstrip("/").rsplit("/", 1)[0] + "/wrongtoken/"
    try:
        Bitrix(wrong, verbose=False).call("crm.deal.get", {"ID": ids[0]}, raw=True)
        seen["bad_token_status"] = None
    except aiohttp.ClientResponseError as e:
        seen["bad_token_status"] = e.status

    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
