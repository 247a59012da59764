package io.virtfleet.agent.api;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.hypervisor.AdoptableXml;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.Migration;
import io.virtfleet.agent.hypervisor.MigrationException;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.hypervisor.HostCpus;
import io.virtfleet.agent.network.NetworkException;
import io.virtfleet.agent.network.Networks;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.agent.storage.DiskOutcome;
import io.virtfleet.agent.storage.Disks;
import io.virtfleet.agent.storage.StorageException;
import io.virtfleet.agent.sync.DefinitionsSync;
import io.virtfleet.agent.sync.SyncException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.AdoptDomainRequest;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.ReadDomainRequest;
import io.virtfleet.proto.v1.ReadDomainResponse;
import io.virtfleet.proto.v1.BaselineCpuRequest;
import io.virtfleet.proto.v1.BaselineCpuResponse;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DeleteDiskRequest;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.EnsureDiskRequest;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncDefinitionsRequest;
import io.virtfleet.proto.v1.SyncEvent;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's gRPC face: validates each request where it arrives (a bad one is INVALID_ARGUMENT before
 * anything runs), then hands the step to its feature, never running it on gRPC's event loop: domains (define,
 * undefine, start, stop), disks, networks, the definitions sync, live migrations.
 */
public final class AgentService extends AgentGrpc.AgentImplBase {
    private static final Logger log = LoggerFactory.getLogger(AgentService.class);

    private final HostReporter reporter;
    private final Domains domains;
    private final Disks disks;
    private final Executor storageWork;
    private final Networks networks;
    private final DefinitionsSync sync;
    private final Migrations migrations;
    private volatile HostCpus cpus;
    private volatile Executor cpuWork;

    /** The API's methods, for deciding who may call each. */
    public static io.grpc.ServerServiceDefinition definition() {
        return AgentGrpc.bindService(new AgentGrpc.AsyncService() {});
    }

    /**
     * @param storageWork where disk steps run: they wait for qemu-img, rbd and Ceph (seconds when Ceph is
     *                    down), and must not hold up the threads that also carry the agent's heartbeats
     */
    public AgentService(HostReporter reporter, Domains domains, Disks disks, Executor storageWork, Networks networks,
                        DefinitionsSync sync) {
        this(reporter, domains, disks, storageWork, networks, sync, null);
    }

    /** @param migrations this host's live migrations; null on a host that migrates nothing (FAILED_PRECONDITION) */
    public AgentService(HostReporter reporter, Domains domains, Disks disks, Executor storageWork, Networks networks,
                        DefinitionsSync sync, Migrations migrations) {
        this.reporter = reporter;
        this.domains = domains;
        this.disks = disks;
        this.storageWork = storageWork;
        this.networks = networks;
        this.sync = sync;
        this.migrations = migrations;
    }

    /**
     * This service, also answering BaselineCpu with {@code cpus}, on {@code work}: a libvirt call that must hold up
     * neither gRPC's threads nor the others' work. Without it, BaselineCpu is FAILED_PRECONDITION.
     */
    public AgentService withCpus(HostCpus cpus, Executor work) {
        this.cpus = cpus;
        this.cpuWork = work;
        return this;
    }

    @Override
    public void describeHost(DescribeHostRequest request, StreamObserver<HostReport> response) {
        if (!request.getFresh()) {
            response.onNext(withMigrations(reporter.report()));
            response.onCompleted();
            return;
        }
        // Answered when the poll thread has asked libvirt again, never waiting on a gRPC thread meanwhile.
        reporter.freshReport().whenComplete((report, failed) -> {
            if (failed != null) {
                response.onError(Status.INTERNAL.withDescription("no report: " + failed).asRuntimeException());
            } else {
                response.onNext(withMigrations(report));
                response.onCompleted();
            }
        });
    }

    /** The report with the domains this host is migrating away now marked so: where they run is about to change. */
    private HostReport withMigrations(HostReport report) {
        if (migrations == null) {
            return report;
        }
        HostReport.Builder b = null;
        for (int i = 0; i < report.getDomainsCount(); i++) {
            if (migrations.inFlight(report.getDomains(i).getName()).isPresent()) {
                b = b == null ? report.toBuilder() : b;
                b.setDomains(i, report.getDomains(i).toBuilder().setMigrating(true));
            }
        }
        return b == null ? report : b.build();
    }

    // Domains: checked here (a bad request fails at once), carried out on the hypervisor's own threads.

    @Override
    public void defineDomain(DefineDomainRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        // A domain the controller defines here is the VM's home, not a replica.
        StepReplies.send("DefineDomain", domains.define(request.getVmName(), request.getDomainXml(),
                request.getInstallToken(), request.getAutostart()), started, response);
    }

    @Override
    public void undefineDomain(UndefineDomainRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("UndefineDomain", domains.undefine(request.getVmName(), request.getForce()), started, response);
    }

    @Override
    public void setDomainRunning(SetDomainRunningRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("SetDomainRunning", domains.setRunning(request.getVmName(), request.getRunning(),
                Duration.ofMillis(request.getShutdownTimeoutMs())), started, response);
    }

    // Adoption of domains virtfleet did not define: read on the hypervisor's threads, the disk's size on the storage
    // threads (it asks Ceph or qemu-img).

    @Override
    public void readDomain(ReadDomainRequest request, StreamObserver<ReadDomainResponse> response) {
        domains.read(request.getVmName()).thenApplyAsync(read -> {
            ReadDomainResponse.Builder b = ReadDomainResponse.newBuilder().setUuid(read.uuid()).setState(read.state())
                    .setDomainXml(read.xml()).setRefusal(read.refusal()).setLibvirtAutostart(read.libvirtAutostart());
            try {
                var source = AdoptableXml.disk(read.xml());
                if (source.isEmpty()) {
                    return b.setDiskDetail("no disk of type file or RBD").build();
                }
                var s = source.get();
                Disks.AdoptedDisk disk = disks.adoptedDisk(request.getVmName(), s.file(), s.pool(), s.image());
                return b.setDiskBytes(disk.bytes()).setDiskDetail(disk.where()).setDiskFormat(disk.format()).build();
            } catch (StorageException | InvalidInputException e) {
                return b.setDiskDetail(e.getMessage()).build();
            }
        }, storageWork).whenComplete((done, failure) -> {
            try {
                if (failure == null) {
                    response.onNext(done);
                    response.onCompleted();
                } else {
                    response.onError(StepReplies.status("ReadDomain", failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("ReadDomain: reply not sent, the call is gone: {}", e.toString());
            }
        });
    }

    @Override
    public void adoptDomain(AdoptDomainRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("AdoptDomain", domains.adopt(request.getVmName(), request.getDomainXml(), request.getAutostart(),
                request.getRelease()), started, response);
    }

    // Migrations: checked here, carried out on the migration's own threads, which also send its progress.

    /**
     * Streams the migration's progress and ends normally after PHASE_DONE; a failure ends the stream with the
     * status its kind maps to. Cancelling the call aborts the migration.
     */
    @Override
    public void migrateDomain(MigrateDomainRequest request, StreamObserver<MigrationProgress> response) {
        if (migrations == null) {
            response.onError(Status.FAILED_PRECONDITION.withDescription("this agent takes part in no migration")
                    .asRuntimeException());
            return;
        }
        Migration migration;
        try {
            migration = migrations.prepare(request); // bad input: INVALID_ARGUMENT, through StatusMapping
        } catch (MigrationException e) {
            response.onError(migrationStatus(e).asRuntimeException());
            return;
        }
        if (response instanceof ServerCallStreamObserver<MigrationProgress> call) {
            call.setOnCancelHandler(migration::cancel); // the client went away (Ctrl-C, deadline): abort, keep the VM here
        }
        migration.result().whenComplete((done, failure) -> {
            try {
                if (failure == null) {
                    response.onCompleted();
                } else {
                    response.onError(migrationStatus(failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("MigrateDomain: end not sent, the call is gone: {}", e.toString());
            }
        });
        try {
            migration.start(response::onNext);
        } catch (MigrationException e) {
            response.onError(migrationStatus(e).asRuntimeException());
        }
    }

    private static Status migrationStatus(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof MigrationException e) {
            Status status = switch (e.kind()) {
                case NOT_FOUND -> Status.NOT_FOUND;
                case FAILED_PRECONDITION -> Status.FAILED_PRECONDITION;
                case UNAVAILABLE -> Status.UNAVAILABLE;
                case ABORTED -> Status.ABORTED;
                case UNKNOWN -> Status.UNKNOWN;
            };
            return status.withDescription(e.getMessage());
        }
        if (cause instanceof InvalidInputException e) {
            return Status.INVALID_ARGUMENT.withDescription(e.getMessage());
        }
        log.error("MigrateDomain failed unexpectedly", cause);
        return Status.INTERNAL.withDescription("internal error: " + cause);
    }

    // Definitions: checked here, synced on the sync's own thread, which also sends the events.

    /**
     * Streams the sync's events and ends normally once it ran to its end (its last event says whether it did all);
     * UNAVAILABLE when the repository could not be pulled, FAILED_PRECONDITION when there is nothing to pull from or
     * main lacks the commit asked for.
     */
    @Override
    public void syncDefinitions(SyncDefinitionsRequest request, StreamObserver<SyncEvent> response) {
        String commit = DefinitionsSync.checkCommit("commit", request.getCommit());
        sync.run(commit, response::onNext).whenComplete((status, failure) -> {
            try {
                if (failure == null) {
                    response.onCompleted();
                } else {
                    response.onError(syncStatus(failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("SyncDefinitions: end not sent, the call is gone: {}", e.toString());
            }
        });
    }

    private static Status syncStatus(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof SyncException e) {
            return (e.kind() == SyncException.Kind.UNAVAILABLE ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION)
                    .withDescription(e.getMessage());
        }
        return Status.INTERNAL.withDescription("internal error: " + cause); // logged by the sync
    }

    // Guest CPUs: libvirt's baseline, for the fleet CPU model.

    @Override
    public void baselineCpu(BaselineCpuRequest request, StreamObserver<BaselineCpuResponse> response) {
        HostCpus hostCpus = cpus;
        if (hostCpus == null) {
            response.onError(Status.FAILED_PRECONDITION.withDescription("this agent computes no CPU baselines")
                    .asRuntimeException());
            return;
        }
        List<String> xml = List.copyOf(request.getCpuXmlList());
        try {
            cpuWork.execute(() -> {
                try {
                    response.onNext(BaselineCpuResponse.newBuilder().setCpuXml(hostCpus.baseline(xml)).build());
                    response.onCompleted();
                } catch (LibvirtException e) {
                    response.onError(Status.UNAVAILABLE.withDescription("libvirt: " + e.getMessage()).asRuntimeException());
                } catch (RuntimeException e) {
                    response.onError(StepReplies.status("BaselineCpu", e).asRuntimeException()); // logs what nobody foresaw
                }
            });
        } catch (RejectedExecutionException e) {
            response.onError(Status.UNAVAILABLE.withDescription("the agent is stopping").asRuntimeException());
        }
    }

    // Disks: checked here, carried out on the storage threads.

    @Override
    public void ensureDisk(EnsureDiskRequest request, StreamObserver<StepResult> response) {
        String vm = Names.vmName("vm_name", request.getVmName());
        StorageTier tier = StorageTiers.check("storage", request.getStorageValue());
        long bytes = Sizes.diskBytes("size_bytes", request.getSizeBytes());
        step("ensure disk of " + vm, response, () -> disks.ensure(vm, tier, bytes));
    }

    @Override
    public void deleteDisk(DeleteDiskRequest request, StreamObserver<StepResult> response) {
        String vm = Names.vmName("vm_name", request.getVmName());
        StorageTier tier = StorageTiers.check("storage", request.getStorageValue());
        step("delete disk of " + vm, response, () -> disks.delete(vm, tier));
    }

    /** Runs a storage step off the calling thread and answers with its outcome or the status its refusal maps to. */
    private void step(String what, StreamObserver<StepResult> response, Supplier<DiskOutcome> work) {
        long start = System.nanoTime();
        try {
            storageWork.execute(() -> {
                try {
                    DiskOutcome outcome = work.get();
                    long ms = (System.nanoTime() - start) / 1_000_000;
                    log.info("{}: {} ({} ms)", what, outcome.detail(), ms);
                    response.onNext(StepResult.newBuilder()
                            .setOutcome(outcome.changed() ? StepResult.Outcome.OUTCOME_CHANGED : StepResult.Outcome.OUTCOME_ALREADY_DONE)
                            .setDetail(outcome.detail())
                            .setDurationMs(ms)
                            .build());
                    response.onCompleted();
                } catch (StorageException e) {
                    log.warn("{} refused: {}", what, e.getMessage());
                    Status status = e.kind() == StorageException.Kind.UNAVAILABLE ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION;
                    response.onError(status.withDescription(e.getMessage()).asRuntimeException());
                } catch (InvalidInputException e) {
                    response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                } catch (RuntimeException e) {
                    log.error("{} failed unexpectedly", what, e);
                    response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
                }
            });
        } catch (RejectedExecutionException e) {
            response.onError(Status.UNAVAILABLE.withDescription("the agent is stopping; repeat the step when it is back")
                    .asRuntimeException());
        }
    }

    // Networks: checked here, carried out on the network thread.

    /**
     * Malformed input is refused at once (INVALID_ARGUMENT, through StatusMapping); the step itself replies
     * from the network thread.
     */
    @Override
    public void ensureNetwork(EnsureNetworkRequest request, StreamObserver<StepResult> response) {
        networks.ensure(request).whenComplete((result, failure) -> {
            try {
                if (failure == null) {
                    response.onNext(result);
                    response.onCompleted();
                } else {
                    response.onError(networkStatus(failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("EnsureNetwork: reply not sent, the call is gone: {}", e.toString());
            }
        });
    }

    /** A host that cannot comply says why; only what nobody foresaw (a bug) is INTERNAL, and logged. */
    private static Status networkStatus(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof NetworkException e) {
            return (e.kind() == NetworkException.Kind.UNAVAILABLE ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION)
                    .withDescription(e.getMessage());
        }
        log.error("EnsureNetwork failed unexpectedly", cause);
        return Status.INTERNAL.withDescription("internal error: " + cause);
    }
}
