# omega-scheduler: one image for the API, the scheduler workers, migrations and simulated agents.
# Multi-stage: dependencies are installed from the lock file in a build stage; the runtime stage
# holds the production dependencies and the sources only, and runs as an unprivileged user.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script (the embedded PostgreSQL's binaries are
# only for `omega start` without DATABASE_URL, which containers do not use).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
USER node
EXPOSE 8080
# `docker run IMAGE serve`, `… worker --scheduler batch`, `… migrate`, `… job status`.
ENTRYPOINT ["node", "bin/omega.js"]
CMD ["serve"]
