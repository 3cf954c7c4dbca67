from libs.grpc_server import run_service
from services.analytics.server import SPEC

if __name__ == "__main__":
    run_service(SPEC)
