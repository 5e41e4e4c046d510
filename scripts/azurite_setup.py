"""Creates the test containers in Azurite and prints a container SAS token for `sas-backups`.

Azurite's well-known development account; OpenDAL does not create containers, so the tests need this.
"""
import os
from datetime import datetime, timedelta, timezone

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
port = os.environ.get("AZURITE_PORT", "10000")
conn = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
    f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
)
service = BlobServiceClient.from_connection_string(conn)
for name in ("backups", "sas-backups", "other"):
    try:
        service.create_container(name)
    except Exception as err:  # already there from an earlier start
        if "ContainerAlreadyExists" not in str(err):
            raise
sas = generate_container_sas(
    account_name=ACCOUNT,
    container_name="sas-backups",
    account_key=KEY,
    permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, delete=True, list=True),
    expiry=datetime.now(timezone.utc) + timedelta(days=2),
)
print(sas)
