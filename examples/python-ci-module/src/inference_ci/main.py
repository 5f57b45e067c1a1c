from typing import Annotated

import dagger
from dagger import DefaultPath, Doc, dag, function, object_type

PYTHON_IMAGE = "python:3.14-slim"
PG_USER = PG_PASSWORD = PG_DB = "tanto"


@object_type
class InferenceCi:
    def base(self, source: dagger.Directory) -> dagger.Container:
        """python:3.14-slim with the source in /src and a pip cache volume."""
        return (
            dag.container()
            .from_(PYTHON_IMAGE)
            .with_mounted_cache("/root/.cache/pip", dag.cache_volume("inference-ci-pip"))
            .with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .with_env_variable("PIP_ROOT_USER_ACTION", "ignore")
            .with_directory("/src", source, exclude=[".venv", "**/__pycache__", "*.egg-info", "build"])
            .with_workdir("/src")
        )

    @function
    async def lint(
        self,
        source: Annotated[dagger.Directory, DefaultPath("api"), Doc("the API's source")],
    ) -> str:
        """Lints the API with ruff."""
        return await (
            self.base(source)
            .with_exec(["pip", "install", "--quiet", "ruff"])
            .with_exec(["ruff", "check", "--no-cache", "."])
            .stdout()
        )

    @function
    async def test(
        self,
        source: Annotated[dagger.Directory, DefaultPath("api"), Doc("the API's source")],
        postgres_image: Annotated[
            str, Doc("a PostgreSQL image (user, password and database `tanto`); the database tests run only with one")
        ] = "",
        postgres_args: Annotated[
            list[str] | None, Doc("the PostgreSQL container's command, when not the image's default")
        ] = None,
    ) -> str:
        """Runs the API's tests with pytest, against a PostgreSQL service when given one."""
        ctr = self.base(source)
        extras = "test"
        if postgres_image:
            db = (
                dag.container()
                .from_(postgres_image)
                .with_env_variable("POSTGRES_USER", PG_USER)
                .with_env_variable("POSTGRES_PASSWORD", PG_PASSWORD)
                .with_env_variable("POSTGRES_DB", PG_DB)
                .with_exposed_port(5432)
                .as_service(args=postgres_args or [], use_entrypoint=not postgres_args)
            )
            ctr = ctr.with_service_binding("db", db).with_env_variable(
                "DATABASE_URL", f"postgresql://{PG_USER}:{PG_PASSWORD}@db:5432/{PG_DB}"
            )
            extras = "test,db"
        return await (
            ctr.with_exec(["pip", "install", "--quiet", f".[{extras}]"])
            .with_exec(["python", "-m", "pytest", "-v", "-p", "no:cacheprovider"])
            .stdout()
        )

    @function
    def build(
        self,
        source: Annotated[dagger.Directory, DefaultPath("api"), Doc("the API's source")],
    ) -> dagger.Container:
        """The API's image: installed in python:3.14-slim, serving on port 8080."""
        return (
            dag.container()
            .from_(PYTHON_IMAGE)
            .with_directory("/tmp/api", source, exclude=[".venv", "**/__pycache__", "tests"])
            .with_mounted_cache("/root/.cache/pip", dag.cache_volume("inference-ci-pip"))
            .with_exec(["pip", "install", "--quiet", "--root-user-action=ignore", "/tmp/api"])
            .without_directory("/tmp/api")
            .with_env_variable("PORT", "8080")
            .with_exposed_port(8080)
            .with_entrypoint(["inference-api"])
        )

    @function
    async def smoke(
        self,
        source: Annotated[dagger.Directory, DefaultPath("api"), Doc("the API's source")],
        features: Annotated[list[str], Doc("the features to ask a prediction for")] = ("1.0", "0.0", "0.0"),
    ) -> str:
        """Runs the built image as a service and asks it for a prediction over HTTP; returns the answer."""
        api = self.build(source).as_service(use_entrypoint=True)
        body = '{"features": [' + ", ".join(str(float(f)) for f in features) + "]}"
        client = (
            "import sys, urllib.request\n"
            "req = urllib.request.Request('http://api:8080/predict', data=sys.argv[1].encode(), method='POST')\n"
            "print(urllib.request.urlopen(req, timeout=30).read().decode())\n"
        )
        return await (
            dag.container()
            .from_(PYTHON_IMAGE)
            .with_service_binding("api", api)
            .with_exec(["python", "-c", client, body])
            .stdout()
        )

    @function
    async def publish(
        self,
        address: Annotated[str, Doc("where to push the image, e.g. registry.example.com/inference-api:1")],
        source: Annotated[dagger.Directory, DefaultPath("api"), Doc("the API's source")],
    ) -> str:
        """Builds the image and pushes it to ADDRESS; returns the pushed reference."""
        return await self.build(source).publish(address)
