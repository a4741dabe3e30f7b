"""SAP S/4HANA: credit memo requests through the OData V2 service
API_CREDIT_MEMO_REQUEST_SRV."""

from creditdesk.integrations.sap.adapter import SapAdapter, build_adapter
from creditdesk.integrations.sap.settings import SapSettings

__all__ = ["SapAdapter", "SapSettings", "build_adapter"]
