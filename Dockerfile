FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY contract ./contract
USER node
EXPOSE 3000
# `npm start` migrates, then serves the API and runs workers; `npm run worker` runs workers only.
CMD ["npm", "start"]
