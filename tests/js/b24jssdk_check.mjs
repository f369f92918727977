// Drives a Stagewright host over https with b24jssdk, Bitrix24's official JavaScript SDK,
// unmodified.
//
// Usage: NODE_EXTRA_CA_CERTS=CERT node b24jssdk_check.mjs WEBHOOK_URL
//
// Prints one JSON object with what the SDK saw; the Rust test that runs this script asserts on it.

import { B24Hook } from "@bitrix24/b24jssdk";

const seen = {};
try {
  B24Hook.fromWebhookUrl(process.argv[2].replace("https://", "http://"));
} catch (error) {
  seen.plain_http = error.message;
}
const b24 = B24Hook.fromWebhookUrl(process.argv[2]);

const added = await b24.actions.v2.call.make({ method: "crm.deal.add", params: { fields: { TITLE: "From JS", OPPORTUNITY: 700 } } });
seen.added_id = Number(added.getData().result);
const got = await b24.actions.v2.call.make({ method: "crm.deal.get", params: { id: seen.added_id } });
seen.got_title = got.getData().result.TITLE;

const listed = await b24.actions.v2.callList.make({ method: "crm.deal.list", params: { select: ["ID"], filter: { ">OPPORTUNITY": 100 } } });
seen.call_list = listed.getData().map((row) => Number(row.ID));
let fetched = 0;
for await (const chunk of b24.actions.v2.fetchList.make({ method: "crm.deal.list", params: { select: ["ID"] } })) {
  fetched += chunk.length;
}
seen.fetch_list = fetched;

const array = await b24.actions.v2.batch.make({
  calls: [["crm.deal.get", { id: 1 }], ["crm.deal.get", { id: 2 }]],
  options: { isHaltOnError: true },
});
seen.batch_array_ok = array.isSuccess;
seen.batch_array_titles = array.getData().map((deal) => deal.TITLE);
const named = await b24.actions.v2.batch.make({
  calls: { one: ["crm.deal.get", { id: 1 }], missing: ["crm.deal.get", { id: 999999 }] },
  options: { isHaltOnError: false },
});
seen.batch_named_ok = named.isSuccess;
seen.batch_named_title = named.getData().one.TITLE;
seen.batch_named_error = named.getErrorMessages().join(" ");
const chunked = await b24.actions.v2.batchByChunk.make({
  calls: Array.from({ length: 60 }, (_, i) => ["crm.deal.get", { id: i + 1 }]),
});
seen.batch_by_chunk = chunked.getData().length;

const v3 = await b24.actions.v3.call.make({ method: "tasks.task.list", params: {} });
seen.v3_ok = v3.isSuccess;
seen.v3_error = v3.getErrorMessages().join(" ");

console.log(JSON.stringify(seen));
