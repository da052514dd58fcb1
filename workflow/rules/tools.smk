# tools: environments of external tools that methods run as commands.

# ECLARE (methods.eclare) runs from its own environment (it needs scipy==1.11.4): a virtual
# environment from the pinned envs/eclare.requirements.txt, or with --use-conda envs/eclare.yaml.
# Local: it installs from the package index, which compute nodes often cannot reach.
rule eclare_environment:
    output:
        "resources/tools/eclare/bin/run-eclare",
    log:
        "logs/tools/eclare_environment.log",
    localrule: True
    params:
        installer=os.path.join(workflow.basedir, "envs", "install-eclare.sh"),
    conda:
        "../../envs/eclare.yaml"
    shell:
        "bash {params.installer:q} resources/tools/eclare > {log:q} 2>&1"
