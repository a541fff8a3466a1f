import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_TOPICS } from '@quire/contracts';
import { createKafka, ensureTopics } from '@quire/contracts/kafka';
import { startSupervised } from '../component-runner';
import { ensureDebianPackages, markerMatches, writeMarker } from '../installers';
import type { Component, PlatformContext } from '../platform-context';
import { run, runLogged } from '../process-supervisor';
import { PlatformError, step } from '../progress';

/**
 * Apache Kafka in KRaft mode (one broker that is also its controller), from the
 * jars on Maven Central. Pinned to 3.9.x: the last line that keeps every
 * protocol version kafkajs 2.2.4 speaks.
 */
const libDir = (ctx: PlatformContext) =>
  join(ctx.config.cacheDir, `kafka-${ctx.config.versions.kafka}`, 'lib');
const confDir = (ctx: PlatformContext) => join(ctx.config.stateDir, 'kafka');

function pom(ctx: PlatformContext): string {
  const { kafka, scala } = ctx.config.versions;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.quire.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${scala}</artifactId><version>${kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`;
}

export const kafka: Component = {
  name: 'kafka',
  title: 'Apache Kafka',
  ports: (ctx) => [ctx.config.ports.kafka, ctx.config.ports.kafkaController],
  endpoint: (ctx) => `${ctx.config.bindHost}:${ctx.config.ports.kafka}`,

  async install(ctx) {
    await ensureDebianPackages(ctx, 'Apache Kafka', [
      { name: 'openjdk-17-jre-headless', provides: '/usr/bin/java' },
      { name: 'maven', provides: '/usr/bin/mvn' },
    ]);
    const dir = join(ctx.config.cacheDir, `kafka-${ctx.config.versions.kafka}`);
    const marker = join(dir, 'lib', '.complete');
    if (markerMatches(marker, pom(ctx))) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pom.xml'), pom(ctx));
    const log = ctx.supervisor.logFile('install-kafka');
    await step(`fetch Kafka ${ctx.config.versions.kafka} jars from Maven Central`, () =>
      runLogged(
        'mvn',
        ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', '-DoutputDirectory=lib'],
        log,
        { cwd: dir },
      ).catch((err: Error) => {
        throw new PlatformError(
          'Apache Kafka',
          `fetching jars failed (${err.message})`,
          'read the log; check the network to Maven Central',
          log,
        );
      }),
    );
    writeMarker(marker, pom(ctx));
  },

  async start(ctx) {
    const conf = confDir(ctx);
    const dataDir = join(conf, 'data');
    mkdirSync(dataDir, { recursive: true });
    const { bindHost } = ctx.config;
    const { kafka: port, kafkaController: controllerPort } = ctx.config.ports;
    writeFileSync(
      join(conf, 'server.properties'),
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@${bindHost}:${controllerPort}`,
        `listeners=PLAINTEXT://${bindHost}:${port},CONTROLLER://${bindHost}:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://${bindHost}:${port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        `log.dirs=${dataDir}`,
        'num.partitions=3',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=10',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        // Topics are created from the registry (contracts), never by accident.
        'auto.create.topics.enable=false',
        'log.retention.hours=-1',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(conf, 'log4j.properties'),
      [
        'log4j.rootLogger=WARN, stdout',
        'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.kafka.server.KafkaServer=INFO',
        'log4j.logger.kafka.server.BrokerServer=INFO',
        '',
      ].join('\n'),
    );
    const classpath = `${libDir(ctx)}/*`;
    if (!existsSync(join(dataDir, 'meta.properties'))) {
      const idFile = join(conf, 'cluster-id');
      if (!existsSync(idFile)) writeFileSync(idFile, randomBytes(16).toString('base64url'));
      const clusterId = readFileSync(idFile, 'utf8').trim();
      await run('java', [
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        join(conf, 'server.properties'),
        '--ignore-formatted',
      ]).catch((err: Error) => {
        throw new PlatformError(
          'Apache Kafka',
          `formatting storage failed: ${err.message}`,
          'delete the state folder’s kafka/ and run again',
        );
      });
    }
    await startSupervised(
      ctx,
      this,
      () =>
        ctx.supervisor.start(this.name, 'java', [
          `-Xms256m`,
          `-Xmx${process.env.QUIRE_KAFKA_HEAP ?? '768m'}`,
          '-XX:+UseG1GC',
          '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${join(conf, 'log4j.properties')}`,
          '-cp',
          classpath,
          'kafka.Kafka',
          join(conf, 'server.properties'),
        ]),
      {
        readyTimeoutMs: 90_000,
        portEnv: {
          [ctx.config.ports.kafka]: 'QUIRE_KAFKA_PORT',
          [ctx.config.ports.kafkaController]: 'QUIRE_KAFKA_CONTROLLER_PORT',
        },
      },
    );
    const admin = createKafka({ brokers: [this.endpoint(ctx)], clientId: 'quire-launcher' }).admin();
    await admin.connect();
    try {
      await ensureTopics(admin, ALL_TOPICS);
    } finally {
      await admin.disconnect();
    }
  },

  async stop(ctx) {
    await ctx.supervisor.stop(this.name, 30_000);
  },

  async ready(ctx) {
    const admin = createKafka(
      { brokers: [this.endpoint(ctx)], clientId: 'quire-launcher-probe' },
      { retry: { retries: 0 }, connectionTimeout: 1000, logCreator: () => () => undefined },
    ).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return true;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },
};
