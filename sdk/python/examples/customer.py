"""A customer, with its account from another service and its record from the CRM.

Deploy it into a running cluster (every server runs it within seconds, none restarts):

    zato service deploy sdk/python/examples/customer.py --name demo.customer

It expects an outgoing REST connection called `crm` (see the README).
"""
from zato_service import NotFound, Service


class Customer(Service):
    """Answers {"id", "account", "crm"} for the payload's "id"."""

    def handle(self, request):
        customer_id = request.payload["id"]
        self.log.info(f"looking up customer {customer_id}")
        # Any service of the cluster, compiled in or deployed, with this request's cid.
        account = self.invoke("zato.echo", {"account_of": customer_id})
        crm = self.rest("crm").get({"id": customer_id})
        if crm.status == 404:
            raise NotFound(f"no customer {customer_id}")
        # The service's own keys in Redis, shared by every server.
        self.kv.set("last-customer", str(customer_id), ttl_ms=3_600_000)
        return {"id": customer_id, "account": account, "crm": crm.body}
