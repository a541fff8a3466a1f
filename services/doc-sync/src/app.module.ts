import { Module } from '@nestjs/common';
import { HealthModule, JsonLogger, SERVICE_LOGGER } from '@quire/service-kit';
import { InternalController } from './api/internal.controller';
import { NotebooksService } from './api/notebooks.service';
import { DOC_SYNC_CONFIG, loadDocSyncConfig, type DocSyncConfig } from './config';
import { RuntimeHost } from './runtime/runtime-host';

@Module({
  imports: [HealthModule],
  controllers: [InternalController],
  providers: [
    { provide: DOC_SYNC_CONFIG, useFactory: () => loadDocSyncConfig() },
    {
      provide: SERVICE_LOGGER,
      useFactory: (cfg: DocSyncConfig) => new JsonLogger('doc-sync', cfg.QUIRE_LOG_LEVEL),
      inject: [DOC_SYNC_CONFIG],
    },
    RuntimeHost,
    {
      provide: NotebooksService,
      useFactory: (h: RuntimeHost) => new NotebooksService(h.runtime),
      inject: [RuntimeHost],
    },
  ],
})
export class AppModule {}
