# Build with the dev dependencies, run with the production ones only. No npm at run time: node is
# PID 1 and gets `docker stop`'s SIGTERM itself, so running chunks commit before it exits.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; optional: no embedded PostgreSQL.
RUN npm ci --no-audit --no-fund --ignore-scripts --omit=optional
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# The embedded PostgreSQL binaries (an optional dependency) are not shipped: set DATABASE_URL.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# `docker compose exec api npx benefits ...` runs the compiled CLI (npx runs `prepare` first: it
# finds no sources here and builds nothing).
COPY bin ./bin
COPY scripts/prepare.mjs ./scripts/
COPY contract ./contract
USER node
EXPOSE 3000
# `all` migrates, then serves the API and runs workers; `worker` runs workers only.
CMD ["node", "--max-semi-space-size=32", "dist/main.js", "all"]
