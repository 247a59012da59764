package io.virtfleet.controller.install;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.Escape;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.IgnoredProfile;
import io.virtfleet.proto.v1.InstallProfile;
import io.virtfleet.proto.v1.ListProfilesRequest;
import io.virtfleet.proto.v1.ListProfilesResponse;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/** The profiles half of the Fleet API. Reading the directory touches the disk, so it runs off the event loops. */
public final class ProfilesEndpoint {
    private final ProfileCatalog profiles;
    private final Executor work;

    public ProfilesEndpoint(ProfileCatalog profiles, Executor work) {
        this.profiles = profiles;
        this.work = work;
    }

    public void listProfiles(ListProfilesRequest request, StreamObserver<ListProfilesResponse> response) {
        try {
            work.execute(() -> {
                response.onNext(toProto(profiles.read()));
                response.onCompleted();
            });
        } catch (RejectedExecutionException e) {
            response.onError(Status.UNAVAILABLE.withDescription("the controller is stopping").asRuntimeException());
        }
    }

    private ListProfilesResponse toProto(ProfileCatalog.Contents contents) {
        ListProfilesResponse.Builder b = ListProfilesResponse.newBuilder().setDirectory(profiles.directory().toString());
        for (Profile p : contents.profiles()) {
            b.addProfiles(InstallProfile.newBuilder().setName(p.name()).setDescription(p.description()));
        }
        // An ignored entry's name is whatever is on disk: shown escaped, as any untrusted text.
        contents.ignored().forEach((name, reason) -> b.addIgnored(IgnoredProfile.newBuilder()
                .setName(Names.isDnsLabel(name) ? name : Escape.quoted(name)).setReason(reason)));
        return b.build();
    }
}
