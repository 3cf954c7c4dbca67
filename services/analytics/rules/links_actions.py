"""The links service calls rules (and the sub-id flood finder) make, on the one
typed client (libs.clients), with the internal token acting for the rule's
account (``x-account-id``). Never called inside a database transaction."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import field_mask_pb2

from libs.clients import LinksClient, for_account
from libs.config import AnalyticsSettings

# links.v1.FlagSubIdsRequest takes at most this many.
MAX_FLAGS_PER_CALL = 1000
# What each call may take (the channel's default before the typed client).
DEADLINE_S = 5.0


class LinksActions:
    """The links service calls rules (and the sub-id flood finder) make, with the
    internal token acting for the rule's account (``x-account-id``)."""

    def __init__(self, settings: AnalyticsSettings) -> None:
        # The account service is served by the links process: one client, both stubs.
        self._client = LinksClient.internal(settings, deadline_s=DEADLINE_S)
        self._stub = self._client.links
        self._accounts = self._client.stub(accounts_pb2_grpc.AccountServiceStub)

    async def close(self) -> None:
        await self._client.close()

    @staticmethod
    def _md(account_id: str) -> tuple[tuple[str, str], ...]:
        return for_account(account_id)

    async def campaign(self, account_id: str, campaign_id: str) -> lpb.Campaign | None:
        try:
            resp = await self._stub.GetCampaign(
                lpb.GetCampaignRequest(campaign_id=campaign_id), metadata=self._md(account_id)
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return resp.campaign

    async def update_campaign(self, account_id: str, campaign: lpb.Campaign, paths: list[str]) -> lpb.Campaign:
        resp = await self._stub.UpdateCampaign(
            lpb.UpdateCampaignRequest(campaign=campaign, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            metadata=self._md(account_id),
        )
        return resp.campaign

    async def currency(self, account_id: str) -> str:
        """The account's reporting currency (money conditions compare in it by default)."""
        resp = await self._accounts.GetAccount(
            accounts_pb2.GetAccountRequest(account_id=account_id), metadata=self._md(account_id)
        )
        return resp.account.currency_code or "USD"

    async def sub_id_entries(self, account_id: str, campaign_id: str, field: str) -> dict[int, set[str]]:
        """The campaign's black- and whitelisted values of one sub field."""
        out: dict[int, set[str]] = {lpb.SUB_ID_LIST_BLACKLIST: set(), lpb.SUB_ID_LIST_WHITELIST: set()}
        token = ""
        while True:
            resp = await self._stub.ListSubIdEntries(
                lpb.ListSubIdEntriesRequest(campaign_id=campaign_id, sub_field=field, page_size=1000, page_token=token),
                metadata=self._md(account_id),
            )
            for e in resp.entries:
                out[e.list].add(e.value)
            token = resp.next_page_token
            if not token:
                return out

    async def blacklist(self, account_id: str, campaign_id: str, field: str, value: str, reason: str) -> bool:
        resp = await self._stub.AddSubIdEntry(
            lpb.AddSubIdEntryRequest(
                entry=lpb.SubIdEntry(
                    campaign_id=campaign_id, list=lpb.SUB_ID_LIST_BLACKLIST, sub_field=field, value=value,
                    reason=reason,
                )
            ),
            metadata=self._md(account_id),
        )  # fmt: skip
        return resp.created

    async def flag_sub_ids(self, account_id: str, flags: Sequence[lpb.FlaggedSubId]) -> int:
        """Flags sub-id values as flooding (links gives their clicks
        ``flood_sub_id`` until each flag's expire_time); returns how many."""
        done = 0
        for i in range(0, len(flags), MAX_FLAGS_PER_CALL):
            resp = await self._stub.FlagSubIds(
                lpb.FlagSubIdsRequest(sub_ids=flags[i : i + MAX_FLAGS_PER_CALL]), metadata=self._md(account_id)
            )
            done += resp.flagged
        return done
