# checks.<system>.vm: boots the edge host and a CPU AI host (tiny models),
# registers and logs in through nginx (HTTPS, HTTP/2), runs an image job to
# completion, fetches the picture (X-Accel-Redirect), and calls the SOAP
# service from the API host. Run: nix build .#checks.x86_64-linux.vm -L
{ config, lib, ... }:

let
  pkgs = config.hostPkgs;
  domain = "housify.test";
  # Test-only TLS and JWT material, generated at build time. These land in
  # the Nix store, which is acceptable only because nothing here is secret.
  testSecrets = pkgs.runCommand "housify-test-secrets" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    mkdir -p $out
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj /CN=${domain} -addext subjectAltName=DNS:${domain} \
      -keyout $out/tls.key -out $out/tls.crt
    openssl ecparam -name secp521r1 -genkey -noout -out $out/jwt-private.pem
    openssl ec -in $out/jwt-private.pem -pubout -out $out/jwt-public.pem
    echo 'redis://:test-redis-password@10.0.1.10:6379/0' > $out/redis-url
    echo 'unix://:test-redis-password@/run/redis-housify/redis.sock' > $out/redis-url-local
    echo 'test-redis-password' > $out/redis-password
    echo 'test-ai-db-password' > $out/ai-db-password
    echo '10.0.1.10:5432:housify_ai:housify_ai:test-ai-db-password' > $out/pgpass
  '';
  # The modules refuse secret paths inside the Nix store (by type), as on a
  # real host: copy them to /run/secrets at boot.
  secretsDir = "/run/secrets/housify";
  installSecrets = {
    systemd.tmpfiles.rules = [
      "d ${secretsDir} 0700 root root -"
      # nginx runs as user nginx and reads its key itself.
      "d /run/secrets/tls 0750 root nginx -"
      "C /run/secrets/tls/tls.key - - - - ${testSecrets}/tls.key"
      "z /run/secrets/tls/tls.key 0440 root nginx -"
      "C ${secretsDir}/jwt-private.pem - - - - ${testSecrets}/jwt-private.pem"
      "C ${secretsDir}/jwt-public.pem - - - - ${testSecrets}/jwt-public.pem"
      "C ${secretsDir}/redis-url - - - - ${testSecrets}/redis-url"
      "C ${secretsDir}/redis-url-local - - - - ${testSecrets}/redis-url-local"
      "C ${secretsDir}/redis-password - - - - ${testSecrets}/redis-password"
      "C ${secretsDir}/ai-db-password - - - - ${testSecrets}/ai-db-password"
      "C ${secretsDir}/pgpass - - - - ${testSecrets}/pgpass"
    ];
  };
  lan = address: {
    virtualisation.vlans = [ 1 ];
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        inherit address;
        prefixLength = 24;
      }
    ];
    services.housify.firewall = {
      lanInterface = "eth1";
      internalSubnets = [ "10.0.1.0/24" ];
      managementSubnets = [ "10.0.1.0/24" ];
    };
    users.groups.housify.gid = 7400;
  };
in
{
  name = "housify";
  # The nodes set nixpkgs.config (GPU module) and overlays: not read-only.
  node.pkgsReadOnly = false;
  defaults = {
    imports = [ ../modules/housify.nix ];
    nixpkgs.overlays = [ (import ../packages/overlay.nix) ];
  };

  nodes.edge =
    { pkgs, ... }:
    {
      imports = [
        installSecrets
        (lan "10.0.1.10")
      ];
      virtualisation.memorySize = 2048;
      networking.hosts."127.0.0.1" = [ domain ];
      services.housify = {
        enable = true;
        inherit domain;
        tls = {
          acme = false;
          certificate = "${testSecrets}/tls.crt";
          certificateKey = "/run/secrets/tls/tls.key";
        };
        lan.address = "10.0.1.10";
        redis.passwordFile = "${secretsDir}/redis-password";
        postgresql.aiPasswordFile = "${secretsDir}/ai-db-password";
        storage.nfsExport = true;
        aiServers = [ "10.0.1.20:8200" ];
      };
      users.users.housify.uid = 7400;
      services.housify-api = {
        instances = 2;
        jwt = {
          privateKeyFile = "${secretsDir}/jwt-private.pem";
          publicKeyFile = "${secretsDir}/jwt-public.pem";
        };
        redis = {
          url = null;
          urlFile = "${secretsDir}/redis-url-local";
        };
      };
      # SOAP prices come from a local fake Binance (no network in the VM).
      services.housify-soap.binanceUrl = "http://127.0.0.1:8999";
      environment.systemPackages = [
        pkgs.curl
        pkgs.file
      ];
      systemd.services.fake-binance = {
        wantedBy = [ "multi-user.target" ];
        script = ''
          exec ${pkgs.python3}/bin/python3 -c '
          import http.server, json
          class H(http.server.BaseHTTPRequestHandler):
              def do_GET(self):
                  sym = self.path.split("symbol=")[-1]
                  body = json.dumps({"symbol": sym, "price": "50000.00"}).encode()
                  self.send_response(200); self.send_header("Content-Type", "application/json")
                  self.end_headers(); self.wfile.write(body)
          http.server.HTTPServer(("127.0.0.1", 8999), H).serve_forever()
          '
        '';
      };
    };

  nodes.ai =
    { pkgs, ... }:
    {
      imports = [
        installSecrets
        (lan "10.0.1.20")
      ];
      virtualisation.memorySize = 3072;
      services.housify-ai = {
        enable = true;
        device = "cpu";
        workers = 1;
        models.buildTiny = true;
        api.listenAddress = "10.0.1.20";
        database = {
          url = "postgresql://housify_ai@10.0.1.10:5432/housify_ai";
          passFile = "${secretsDir}/pgpass";
        };
        redis = {
          url = null;
          urlFile = "${secretsDir}/redis-url";
        };
      };
      users.users.housify-ai.uid = 7401;
      environment.systemPackages = [ pkgs.netcat ];
      fileSystems."/var/lib/housify/storage" = {
        device = "10.0.1.10:/var/lib/housify/storage";
        fsType = "nfs";
        options = [
          "nfsvers=4.2"
          "_netdev"
        ];
      };
    };

  testScript = ''
    import json

    edge.start()
    edge.wait_for_unit("postgresql.service")
    edge.wait_for_unit("redis-housify.service")
    edge.wait_for_unit("housify-api-migrate.service")
    edge.wait_for_unit("housify-api-0.service")
    edge.wait_for_unit("housify-api-1.service")
    edge.wait_for_unit("housify-soap.service")
    edge.wait_for_unit("nginx.service")
    edge.wait_for_unit("nfs-server.service")
    edge.wait_for_open_port(8100)
    edge.wait_for_open_port(8101)
    edge.wait_for_open_port(443)

    ai.start()
    ai.wait_for_unit("housify-ai-models.service")
    ai.wait_for_unit("housify-ai-migrate.service")
    ai.wait_for_unit("housify-ai-worker-0.service")
    ai.wait_for_unit("housify-ai-api.service")
    ai.wait_for_open_port(8200)

    curl = "curl --fail --silent --show-error --http2 --cacert ${testSecrets}/tls.crt"
    base = "https://${domain}"

    with subtest("nginx: TLS, HTTP/2, security headers, forced HTTPS"):
        edge.succeed(f"{curl} {base}/health")
        headers = edge.succeed(f"{curl} -I {base}/")
        assert "HTTP/2 200" in headers, headers
        assert "strict-transport-security" in headers.lower(), headers
        edge.succeed("curl --silent -o /dev/null -w '%{http_code}' http://${domain}/ | grep -q 301")

    with subtest("register and log in"):
        edge.succeed(
            f"{curl} -X POST {base}/auth/register -H 'Content-Type: application/json' "
            "-d '{\"email\": \"vm@housify.test\", \"password\": \"correct horse battery\"}'"
        )
        token = json.loads(edge.succeed(
            f"{curl} -X POST {base}/auth/token "
            "-d grant_type=password -d username=vm@housify.test -d 'password=correct horse battery'"
        ))["access_token"]
        auth = f"-H 'Authorization: Bearer {token}'"

    with subtest("a text2img job runs on the AI host and its picture is served"):
        job = json.loads(edge.succeed(
            f"{curl} -X POST {base}/jobs {auth} -H 'Content-Type: application/json' "
            "-d '{\"task\": \"text2img\", \"prompt\": \"a bright kitchen\", \"steps\": 2, \"width\": 64, \"height\": 64}'"
        ))
        edge.wait_until_succeeds(
            f"{curl} {base}/jobs/{job['id']} {auth} | grep -q '\"status\": *\"succeeded\"'", timeout=600
        )
        result = json.loads(edge.succeed(f"{curl} {base}/jobs/{job['id']} {auth}"))
        image_id = result["image_id"]
        edge.succeed(f"{curl} {base}/images/{image_id}/content {auth} -o /tmp/out.png")
        edge.succeed("file /tmp/out.png | grep -q 'PNG image'")

    with subtest("the API host calls the SOAP service"):
        edge.succeed("curl --fail --silent http://127.0.0.1:8300/soap?wsdl | grep -q CryptoRateService")
        plans = edge.succeed(f"{curl} '{base}/subscriptions?currency=BTC'")
        assert "Pro-Tier" in plans, plans

    with subtest("firewall: LAN subnet reaches PostgreSQL and Redis, nothing else"):
        ai.succeed("nc -z -w 3 10.0.1.10 5432")
        ai.succeed("nc -z -w 3 10.0.1.10 6379")
        # SOAP has no allowedSources here: loopback-only and not in the rules.
        ai.fail("nc -z -w 3 10.0.1.10 8300")
        ai.fail("nc -z -w 3 10.0.1.10 8100")
  '';
}
